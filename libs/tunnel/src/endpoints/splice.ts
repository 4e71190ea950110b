// Splice: joins two streams (the manager's rendezvous of an originating stream and the dialer's stream).
// Data, CLOSE_SEND and DIAL_OK / DIAL_REJECT are forwarded; each hop keeps its own keep-alives and idle
// timer. Back-pressure crosses the splice: a full side pauses reading from the other.
import type { StreamEnd, TunnelStream } from '../protocol/stream.js';

/**
 * Runs until both streams have ended; resolves with both ends, never rejects. Either stream may
 * already have ended (its peer went away while the other side was being dialed): the other one is
 * then disconnected at once.
 */
export function splice(a: TunnelStream, b: TunnelStream): Promise<[StreamEnd, StreamEnd]> {
  forward(a, b);
  forward(b, a);
  a.resume();
  b.resume();
  return Promise.all([a.done, b.done]);
}

function forward(from: TunnelStream, to: TunnelStream): void {
  from.on('data', (chunk) => {
    // The received frame goes out as it came (no decode/encode copy); write() is the fallback.
    if (!to.writeReceived(chunk, from)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
  from.on('dial', (o) => (o.ok ? to.dialOk() : to.dialReject(o.reason, o.message)));
  from.on('session', (id) => to.sendSession(id));
  // onClosed, not on('close'): `from` may have ended before the splice was made. Then none of its
  // ending (CLOSE_SEND, DIAL_REJECT) was forwarded, so `to` is disconnected whatever the reason.
  // `ended`, not `closed`: exactly when onClosed calls back at once (`closed` turns true a moment
  // before `ended` is set, while the stream is still closing).
  const endedEarly = from.ended !== undefined;
  from.onClosed((end) => {
    if (to.closed || (!endedEarly && (end.reason === 'eof' || end.reason === 'dial-rejected'))) return;
    to.disconnect(end.error?.reason ?? end.reason);
  });
}
