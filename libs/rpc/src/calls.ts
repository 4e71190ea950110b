// Promise and async-iterable forms of the generated grpc-js clients' calls, for every app that talks to
// the traffic-manager: a unary call with a deadline that an AbortSignal cancels, a server stream as an
// async iterable that ends quietly on abort, and per-call metadata from a provider (credentials).
import { Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';

/** Metadata for a call (authentication plugs in here); called once per call. */
export type CallMetadata = () => Metadata | Promise<Metadata>;

export interface CallOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly metadata?: CallMetadata | undefined;
}

/** A generated client's unary method, as grpc-js types it with metadata and options. */
export type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: { deadline: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Calls `method` of `client` (pass it unbound: `client.remain`); rejects with the ServiceError. */
export async function unaryCall<Req, Res>(
  client: object,
  method: unknown,
  req: Req,
  options: CallOptions,
): Promise<Res> {
  const { signal } = options;
  signal?.throwIfAborted();
  const metadata = options.metadata === undefined ? new Metadata() : await options.metadata();
  return new Promise<Res>((resolve, reject) => {
    const cancel = (): void => call.cancel();
    const call = (method as UnaryMethod<Req, Res>).call(
      client,
      req,
      metadata,
      { deadline: new Date(Date.now() + options.timeoutMs) },
      (err, res) => {
        signal?.removeEventListener('abort', cancel);
        if (err) reject(err);
        else resolve(res);
      },
    ) as { cancel(): void };
    signal?.addEventListener('abort', cancel, { once: true });
  });
}

/**
 * A server stream as an async iterable: ends when the server ends it, throws its error, and ends quietly
 * (the call cancelled) when `signal` aborts or the consumer stops.
 */
export async function* serverStream<T>(
  open: (metadata: Metadata) => ClientReadableStream<T>,
  signal: AbortSignal,
  metadata?: CallMetadata,
): AsyncGenerator<T> {
  const call = open(metadata === undefined ? new Metadata() : await metadata());
  const cancel = (): void => call.cancel();
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  try {
    for await (const item of call as AsyncIterable<T>) yield item;
  } catch (e) {
    if (signal.aborted && (e as Partial<ServiceError>).code === status.CANCELLED) return;
    throw e;
  } finally {
    signal.removeEventListener('abort', cancel);
    call.cancel();
  }
}
