// A client closes its side of a Tunnel call once the tunnel protocol said the call is over (both
// CLOSE_SENDs, a DIAL_REJECT, a DISCONNECT): its END_STREAM tells the server nothing it waits for and only
// releases the stream. Written alone it is one more TLS record, one more message through the port-forward
// and one more read for the manager, for every flow (issue 15). So it waits for the session's next call
// (Http2TunnelClient.openChannel), whose first frame takes it along in the same write, or for
// END_LINGER_MS, whichever comes first.
import type { ClientHttp2Stream, Http2Session } from 'node:http2';

export const END_LINGER_MS = 20;

const bySession = new WeakMap<Http2Session, DeferredEnds>();

export class DeferredEnds {
  private streams: ClientHttp2Stream[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** Ends `stream`'s side of its call with the session's next frame, or after END_LINGER_MS. */
  static end(stream: ClientHttp2Stream): void {
    const session = stream.session;
    if (session === undefined) {
      stream.end();
      return;
    }
    let ends = bySession.get(session);
    if (ends === undefined) {
      ends = new DeferredEnds();
      bySession.set(session, ends);
    }
    ends.add(stream);
  }

  /** @internal Ends held for `session` (tests). */
  static pending(session: Http2Session): number {
    return bySession.get(session)?.streams.length ?? 0;
  }

  /** Before a new call's first frame goes out on `session`: the ends held for it go first, in the same write. */
  static flush(session: Http2Session | undefined): void {
    if (session !== undefined) bySession.get(session)?.flush();
  }

  private add(stream: ClientHttp2Stream): void {
    this.streams.push(stream);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), END_LINGER_MS);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.streams.length === 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const streams = this.streams;
    this.streams = [];
    for (const s of streams) if (!s.destroyed && !s.writableEnded) s.end();
  }
}
