import type { ServerWritableStream } from '@grpc/grpc-js';

/** An AbortSignal that aborts when the client cancels the call (or the call ends). */
export function callSignal(call: {
  on(event: 'cancelled' | 'close', fn: () => void): unknown;
  cancelled: boolean;
}): AbortSignal {
  const abort = new AbortController();
  if (call.cancelled) {
    abort.abort(new Error('call cancelled by the client'));
  }
  call.on('cancelled', () => abort.abort(new Error('call cancelled by the client')));
  call.on('close', () => abort.abort(new Error('call closed')));
  return abort.signal;
}

/**
 * Writes every item to a server stream, waiting for 'drain' when the client reads slowly (so the source
 * decides what to coalesce, instead of an unbounded buffer growing here). Returns when the source ends or
 * the signal aborts.
 */
export async function pipeToCall<Req, Res>(
  source: AsyncIterable<Res>,
  call: ServerWritableStream<Req, Res>,
  signal: AbortSignal,
): Promise<void> {
  for await (const item of source) {
    if (signal.aborted) return;
    if (!call.write(item)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        call.on('drain', done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
