// A FrameChannel over a grpc-js Tunnel call (client or server side). The apps make and serve Tunnel
// calls on node:http2 (http2-channel.ts); grpc-js calls stay for grpc-js peers and as a fallback.
import type { ClientDuplexStream, ServerDuplexStream, ServiceError } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ChannelHandlers, FrameChannel } from '../protocol/channel.js';
import { TunnelError, type TunnelErrorCode } from '../protocol/errors.js';
import { Frame } from '../protocol/frame.js';
import { tunnelMessageOf } from './grpc-codec.js';

/** A grpc-js message of Manager.Tunnel / Agent.Tunnel (`common.v1.TunnelMessage`). */
export interface TunnelMessageLike {
  payload: Buffer;
  /**
   * @internal Optional: the whole message already serialized (`0x0a`, varint length, payload). The fast
   * codec sends it as is and sets it on received messages made of the payload alone; the generated
   * codec ignores it.
   */
  wire?: Buffer;
}

/** Channel over the client side of a `tunnel()` call. */
export function grpcClientChannel(
  call: ClientDuplexStream<TunnelMessageLike, TunnelMessageLike>,
): FrameChannel {
  return new GrpcChannel(call, 'client');
}

/** Channel over the server side of a `handleBidiStreamingCall` tunnel call. */
export function grpcServerChannel(
  call: ServerDuplexStream<TunnelMessageLike, TunnelMessageLike>,
): FrameChannel {
  return new GrpcChannel(call, 'server');
}

type AnyCall =
  | ClientDuplexStream<TunnelMessageLike, TunnelMessageLike>
  | ServerDuplexStream<TunnelMessageLike, TunnelMessageLike>;

/** @internal The gRPC status a call aborted for a TunnelError ends with. */
export const STATUS_FOR: Record<TunnelErrorCode, GrpcStatus> = {
  protocol: GrpcStatus.INVALID_ARGUMENT,
  version: GrpcStatus.FAILED_PRECONDITION,
  'handshake-timeout': GrpcStatus.DEADLINE_EXCEEDED,
  'dial-rejected': GrpcStatus.UNAVAILABLE,
  'peer-disconnect': GrpcStatus.ABORTED,
  idle: GrpcStatus.DEADLINE_EXCEEDED,
  transport: GrpcStatus.UNAVAILABLE,
  local: GrpcStatus.ABORTED,
  aborted: GrpcStatus.CANCELLED,
};

class GrpcChannel implements FrameChannel {
  private finished = false;
  private handlers: ChannelHandlers | undefined;

  constructor(
    private readonly call: AnyCall,
    private readonly side: 'client' | 'server',
  ) {}

  start(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    const call = this.call;
    call.on('data', (m: TunnelMessageLike) => {
      if (!this.finished) handlers.frame(Frame.of(m.payload, m.wire));
    });
    call.on('end', () => this.report(undefined));
    call.on('error', (e: Partial<ServiceError>) => {
      // On the server, grpc-js itself listens to 'error' to send our abort status; that is not news.
      if (this.side === 'server' && this.finished) return;
      const details = e.details ?? e.message ?? String(e);
      const name = e.code !== undefined ? (GrpcStatus[e.code] ?? String(e.code)) : 'UNKNOWN';
      this.report(
        new TunnelError('transport', `tunnel call failed: ${name}: ${details}`, name, { cause: e }),
      );
    });
    if (this.side === 'server') {
      call.on('cancelled', () =>
        this.report(new TunnelError('transport', 'tunnel call cancelled by the peer', 'CANCELLED')),
      );
    }
  }

  private report(err: TunnelError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    if (err === undefined) this.handlers?.end();
    else this.handlers?.error(err);
  }

  send(frame: Frame, done: () => void): void {
    if (this.call.writableEnded || this.call.destroyed) {
      done();
      return;
    }
    this.call.write(tunnelMessageOf(frame), () => done());
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  close(): void {
    this.finished = true;
    if (!this.call.writableEnded && !this.call.destroyed) this.call.end();
  }

  abort(err: TunnelError): void {
    const wasFinished = this.finished;
    this.finished = true;
    if (this.side === 'client') {
      (this.call as ClientDuplexStream<TunnelMessageLike, TunnelMessageLike>).cancel();
    } else if (!wasFinished && !this.call.writableEnded) {
      // grpc-js turns an 'error' on a server call into the call's status.
      this.call.emit('error', { code: STATUS_FOR[err.code], details: err.message });
    }
  }
}
