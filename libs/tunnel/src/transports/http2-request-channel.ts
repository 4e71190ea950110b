// The client side of a Tunnel call whose HTTP/2 request is made on the channel's first send (or at the end
// of the tick it was made in, if nothing was sent), so that the
// OPEN the stream sends first rides in the request headers (handshake-headers.ts). The OPEN also goes as
// the first DATA message, as before, for servers that do not read the header.
import type { ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import type { ChannelHandlers, FrameChannel } from '../protocol/channel.js';
import { MessageCode } from '../protocol/codec.js';
import { TunnelError } from '../protocol/errors.js';
import type { Frame } from '../protocol/frame.js';
import { OPEN_HEADER, encodeFrames } from './handshake-headers.js';
import { DEFAULT_MAX_MESSAGE_BYTES, http2ClientChannel } from './http2-channel.js';
import type { Recycle } from './call-reuse.js';

/**
 * `request` makes the call's request with the extra headers given (once); `recycleOf`, if given, what
 * takes the call for another flow (http2ClientChannel).
 */
export function http2RequestChannel(
  request: (extraHeaders: OutgoingHttpHeaders) => ClientHttp2Stream,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  recycleOf?: (stream: ClientHttp2Stream) => Recycle,
): FrameChannel {
  return new DeferredRequestChannel(request, maxMessageBytes, recycleOf);
}

class DeferredRequestChannel implements FrameChannel {
  private inner: FrameChannel | undefined;
  private handlers: ChannelHandlers | undefined;
  private paused = false;
  /** Closed or aborted before any request was made: nothing to tell the server. */
  private ended = false;

  constructor(
    private readonly request: (extraHeaders: OutgoingHttpHeaders) => ClientHttp2Stream,
    private readonly maxMessageBytes: number,
    private readonly recycleOf: ((stream: ClientHttp2Stream) => Recycle) | undefined,
  ) {
    // A channel nothing is sent on in this tick still makes its call (as a plain request would).
    queueMicrotask(() => this.open(undefined));
  }

  start(handlers: ChannelHandlers): void {
    this.handlers = handlers;
  }

  send(frame: Frame, done: () => void): void {
    const inner = this.open(frame.bytes);
    if (inner === undefined) done();
    else inner.send(frame, done);
  }

  pause(): void {
    this.paused = true;
    this.inner?.pause();
  }

  resume(): void {
    this.paused = false;
    this.inner?.resume();
  }

  close(): void {
    if (this.inner === undefined) this.ended = true;
    else this.inner.close();
  }

  abort(err: TunnelError): void {
    if (this.inner === undefined) this.ended = true;
    else this.inner.abort(err);
  }

  /** The channel of the request, made now if need be (with `first` in its headers if it is an OPEN). */
  private open(first: Buffer | undefined): FrameChannel | undefined {
    if (this.inner !== undefined || this.ended) return this.inner;
    const extra: OutgoingHttpHeaders =
      first?.[0] === MessageCode.OPEN ? { [OPEN_HEADER]: encodeFrames([first]) } : {};
    let stream: ClientHttp2Stream;
    try {
      stream = this.request(extra);
    } catch (e) {
      this.ended = true;
      const handlers = this.handlers;
      const err = TunnelError.from(e, 'transport');
      queueMicrotask(() => handlers?.error(err));
      return undefined;
    }
    const inner = http2ClientChannel(stream, this.maxMessageBytes, this.recycleOf?.(stream));
    this.inner = inner;
    if (this.handlers !== undefined) inner.start(this.handlers);
    if (this.paused) inner.pause();
    return inner;
  }
}
