// An in-memory pair of FrameChannels: unit tests of the protocol without a transport, and fuzzing
// (`inject` delivers raw bytes as if the peer had sent them). Frames keep their order, and a frame's
// `done` runs when the peer consumes it, which models flow control.
import type { ChannelHandlers, FrameChannel } from './channel.js';
import { TunnelError } from './errors.js';
import { Frame } from './frame.js';

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

  send(frame: Frame, done: () => void): void {
    if (this.sentEnd || this.peer === undefined) {
      done();
      return;
    }
    // `done` runs when the peer consumes the frame, which models flow control: a paused reader
    // holds back the writer's completions.
    this.peer.deliver({ frame: frame.joined(), done });
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
        h.frame(Frame.of(next.frame));
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
