// Frame channels: the transport under a TunnelStream. One channel is one gRPC bidi call (client or
// server side) or one end of an in-memory pair. A channel moves opaque frames; TunnelStream gives them
// meaning.
import type { ClientDuplexStream, ServerDuplexStream, ServiceError } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { TunnelError, type TunnelErrorCode } from './errors.js';

/** What a channel reports upward. Exactly one of end/error is called, once, and nothing after it. */
export interface ChannelHandlers {
  /** `wire`, when given, is the frame as received on the wire (see TunnelMessageLike.wire). */
  frame(frame: Buffer, wire?: Buffer): void;
  /**
   * Optional for channels: a DATA frame that arrived in pieces, passed on without joining them. `data`
   * is the frame's body (after the code byte), `wire` the whole serialized message, both in order.
   */
  dataPieces?(data: Buffer[], wire: Buffer[]): void;
  /** The peer finished the call cleanly: no more frames. */
  end(): void;
  /** The call failed: cancelled, connection lost, or ended with an error status. */
  error(err: TunnelError): void;
}

export interface FrameChannel {
  /** Starts delivering frames to the handlers. Called once. */
  start(handlers: ChannelHandlers): void;
  /** Sends a frame; `done` runs when the transport has taken it (HTTP/2 flow control progressed). */
  send(frame: Buffer, done: () => void, wire?: Buffer): void;
  /**
   * Optional: sends a DATA frame (code byte + `data`) without copying `data` into it, which must not
   * change until `done`. Without it, the stream builds the frame and calls send().
   */
  sendData?(data: Uint8Array, done: () => void): void;
  /** Optional: sends a serialized TunnelMessage given in pieces (a frame received by dataPieces). */
  sendWire?(wire: Buffer[], done: () => void): void;
  /** Stops/starts delivering frames (the transport then stops reading, so the peer's sender blocks). */
  pause(): void;
  resume(): void;
  /** Ends the call cleanly after the frames already sent. Idempotent. */
  close(): void;
  /** Ends the call with an error the peer sees (gRPC status). Idempotent. */
  abort(err: TunnelError): void;
}

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
      if (!this.finished) handlers.frame(m.payload, m.wire);
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

  send(frame: Buffer, done: () => void, wire?: Buffer): void {
    if (this.call.writableEnded || this.call.destroyed) {
      done();
      return;
    }
    this.call.write(wire === undefined ? { payload: frame } : { payload: frame, wire }, () => done());
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

/** Two connected in-memory channels (unit tests, in-process pipes). Frames keep their order. */
export function memoryChannelPair(): [MemoryChannel, MemoryChannel] {
  const a = new MemoryChannel();
  const b = new MemoryChannel();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

type Delivery = { frame: Buffer; done: () => void } | { end: true } | { error: TunnelError };

export class MemoryChannel implements FrameChannel {
  /** @internal */
  peer: MemoryChannel | undefined;
  private handlers: ChannelHandlers | undefined;
  private readonly inbox: Delivery[] = [];
  private paused = false;
  private scheduled = false;
  private sentEnd = false;
  private gotEnd = false;

  start(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    this.schedule();
  }

  send(frame: Buffer, done: () => void): void {
    if (this.sentEnd || this.peer === undefined) {
      done();
      return;
    }
    // `done` runs when the peer consumes the frame, which models flow control: a paused reader
    // holds back the writer's completions.
    this.peer.deliver({ frame, done });
  }

  /** Test hook: delivers raw bytes to the peer as if this side had sent them. */
  inject(frame: Buffer): void {
    this.peer?.deliver({ frame, done: () => {} });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  close(): void {
    if (this.sentEnd) return;
    this.sentEnd = true;
    this.peer?.deliver({ end: true });
  }

  abort(err: TunnelError): void {
    if (this.sentEnd) return;
    this.sentEnd = true;
    this.peer?.deliver({
      error: new TunnelError('transport', `peer aborted the call: ${err.message}`, err.reason),
    });
  }

  private deliver(d: Delivery): void {
    if (this.gotEnd) {
      if ('frame' in d) d.done();
      return;
    }
    this.inbox.push(d);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.handlers === undefined) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    const h = this.handlers;
    if (h === undefined) return;
    while (this.inbox.length > 0) {
      const next = this.inbox[0]!;
      if ('frame' in next && this.paused) return;
      this.inbox.shift();
      if ('frame' in next) {
        next.done();
        h.frame(next.frame);
      } else {
        this.gotEnd = true;
        for (const d of this.inbox.splice(0)) if ('frame' in d) d.done();
        if ('end' in next) h.end();
        else h.error(next.error);
        return;
      }
    }
  }
}
