// The tunnel handshake in HTTP/2 HEADERS (node:http2 channels on both ends). HEADERS are not flow
// controlled and nghttp2 sends them ahead of queued DATA, so a new flow's OPEN and its dial answer do not
// wait behind the bulk data of the other flows on the connection (issue 15).
//
//   request   `tp-open-bin`: the OPEN frame. It also says the client takes answers in headers. The client
//             still sends OPEN as the first DATA message too, for servers that ignore the header; a server
//             that took the header drops that copy.
//             Or `tp-answers: headers`: a request made ahead of its flow (http2-client.ts), whose OPEN
//             comes later as the first DATA message; the answers still go in headers.
//   103       `tp-frames-bin`: OPEN_OK, as soon as the acceptor sends it (an informational response).
//   200       `tp-frames-bin`: the control frames sent before the dial result, up to and including
//             DIAL_OK / DIAL_REJECT / DISCONNECT (or the first DATA / CLOSE_SEND, which go as DATA).
//   request   `tp-trailer-frames: 1`: the client also reads frames in the trailers.
//   trailers  `tp-frames-bin`: the server's CLOSE_SEND, when it ends the call in the same turn as it sent
//             it (the last side to half-close): one HEADERS frame instead of a DATA message and then the
//             trailers, i.e. one message less through a port-forward for every flow (issue 15).
//   request   `tp-reuse: 1`: the client can run another flow on this call once the flow on it ended.
//   200       `tp-reuse: 1`: the server may offer that (call-reuse.ts).
// Values are base64 as gRPC sends `-bin` metadata, one per frame, comma-separated.
import type { IncomingHttpHeaders } from 'node:http2';
import { MessageCode } from '../protocol/codec.js';

export const OPEN_HEADER = 'tp-open-bin';
export const FRAMES_HEADER = 'tp-frames-bin';
/** On a request without `tp-open-bin`: the client takes answers in headers all the same. */
export const ANSWERS_HEADER = 'tp-answers';
export const ANSWERS_IN_HEADERS = 'headers';
/** On a request: the client takes the server's last CLOSE_SEND in the trailers (value '1'). */
export const TRAILER_FRAMES_HEADER = 'tp-trailer-frames';
/** The informational status that carries OPEN_OK ahead of the final response. */
export const EARLY_FRAMES_STATUS = 103;
/** Held frames beyond this many bytes go out as they are (headers stay small). */
export const MAX_HELD_BYTES = 4096;

/** What a server channel does with a frame it sends before its response headers. */
export type HeaderAction = 'early' | 'hold' | 'hold-last' | 'data';

export function headerAction(frame: Buffer): HeaderAction {
  switch (frame[0]) {
    case MessageCode.OPEN_OK:
      return 'early';
    case MessageCode.KEEP_ALIVE:
    case MessageCode.SESSION:
      return 'hold';
    case MessageCode.DIAL_OK:
    case MessageCode.DIAL_REJECT:
    case MessageCode.DISCONNECT:
      return 'hold-last';
    default:
      return 'data';
  }
}

export function encodeFrames(frames: readonly Buffer[]): string[] {
  return frames.map((f) => f.toString('base64'));
}

/** The frames of a `-bin` header (undefined if absent); throws on a value that is not base64. */
export function decodeFrames(headers: IncomingHttpHeaders, name: string): Buffer[] | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  const out: Buffer[] = [];
  for (const part of (Array.isArray(v) ? v.join(',') : v).split(',')) {
    const s = part.trim();
    if (s === '') continue;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`${name} is not base64`);
    out.push(Buffer.from(s, 'base64'));
  }
  return out;
}

/** The OPEN frame of a request, if it carries one. */
export function openOfRequest(headers: IncomingHttpHeaders | undefined): Buffer | undefined {
  if (headers === undefined) return undefined;
  try {
    const frames = decodeFrames(headers, OPEN_HEADER);
    const open = frames?.length === 1 ? frames[0] : undefined;
    return open?.[0] === MessageCode.OPEN ? open : undefined;
  } catch {
    return undefined; // a malformed header: the OPEN in DATA is used, as for any other client
  }
}
