// One Tunnel call, more than one flow (issue 15). Making and ending an HTTP/2 request per flow was the
// largest cost of a new flow left on both ends (node:http2's request() and stream teardown, the call's
// HEADERS with its bearer token, the trailers), and one more message each way through a port-forward.
//
//   - A client that can reuse calls says so in its request (`tp-reuse: 1`); a server that can, in its
//     response headers.
//   - When a flow ends cleanly on the server (its channel is closed, not aborted: both CLOSE_SENDs, a
//     DIAL_REJECT, a DISCONNECT), the server does not end the call: it sends REUSE_MESSAGE after the
//     flow's last frame and waits on the same call for the next flow's OPEN. Frames of the old flow that
//     the client sent before it saw REUSE_MESSAGE are dropped until that OPEN.
//   - The client parks the call once its own side of the flow ended too and REUSE_MESSAGE came; the next
//     flow takes a parked call before any new request, and sends its OPEN as the first DATA message.
//   - A parked call unused for the spare TTL is cancelled. A call whose flow failed (aborted, reset,
//     error status) is never reused.
//   - Every flow is authorised with the call's headers, as a new call is: the server reuses a call for at
//     most SERVER_REUSE_MAX_AGE_MS, the client only while its headers (the bearer token) are the same
//     and for at most CLIENT_REUSE_MAX_AGE_MS, so a rotated token is used by the next flow.
// REUSE_MESSAGE's payload, code 0xfe, is no tunnel frame (codec.ts), so it cannot be taken for one.
import type { FrameChannel } from '../protocol/channel.js';
import { serializeTunnelMessage } from './grpc-codec.js';

export const REUSE_HEADER = 'tp-reuse';
/** The serialized TunnelMessage that offers the call for the next flow. */
export const REUSE_MESSAGE: Buffer = serializeTunnelMessage({ payload: Buffer.from([0xfe]) });
/** A server offers a call for another flow only this long after the call began. */
export const SERVER_REUSE_MAX_AGE_MS = 60_000;
/** A client parks a call for another flow only this long after it made the call. */
export const CLIENT_REUSE_MAX_AGE_MS = 30_000;
/** Calls a client keeps parked at most (the rest end with their flows). */
export const MAX_PARKED_CALLS = 16;

/** Called when a call may take another flow; `next()` makes that flow's channel on it. */
export type Recycle = (next: () => FrameChannel) => void;

export function isReuseMessage(message: Buffer): boolean {
  return message.length === REUSE_MESSAGE.length && message.equals(REUSE_MESSAGE);
}
