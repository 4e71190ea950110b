// Frame channels: the transport under a TunnelStream. One channel is one call of a transport (a gRPC
// bidi call on node:http2 or grpc-js, see ../transports) or one end of an in-memory pair
// (memory-channel.ts). A channel moves frames; TunnelStream gives them meaning.
import type { TunnelError } from './errors.js';
import type { Frame } from './frame.js';

/** What a channel reports upward. Exactly one of end/error is called, once, and nothing after it. */
export interface ChannelHandlers {
  /** A frame arrived (whole, or a DATA frame in pieces: see Frame). */
  frame(frame: Frame): void;
  /** The peer finished the call cleanly: no more frames. */
  end(): void;
  /** The call failed: cancelled, connection lost, or ended with an error status. */
  error(err: TunnelError): void;
}

export interface FrameChannel {
  /** Starts delivering frames to the handlers. Called once. */
  start(handlers: ChannelHandlers): void;
  /**
   * Sends a frame in whatever form it comes (see Frame), without copying its data where the transport
   * can; its buffers must not change until `done`, which runs when the transport has taken the frame
   * (HTTP/2 flow control progressed).
   */
  send(frame: Frame, done: () => void): void;
  /** Stops/starts delivering frames (the transport then stops reading, so the peer's sender blocks). */
  pause(): void;
  resume(): void;
  /** Ends the call cleanly after the frames already sent. Idempotent. */
  close(): void;
  /** Ends the call with an error the peer sees (gRPC status). Idempotent. */
  abort(err: TunnelError): void;
}
