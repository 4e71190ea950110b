// When node:http2 has really finished with a write's buffers. It cuts a write into DATA frames and
// hands their bytes to the session's socket write as views of the buffer, without a reference to it. When
// the stream is destroyed (reset, or its session destroyed) it cancels the part not yet cut and calls the
// write back (without an error if the stream was destroyed), while the socket write holding the frames
// already cut may still be pending (Node 20, node_http2.cc: Http2Stream::Destroy, OnSendData). A buffer
// garbage-collected or reused after that callback went out as the stream's data: at teardown the peer
// got bytes that did not parse, or that parsed and reached an application. So a write called back on a
// destroyed stream keeps its buffers, and its `done` waits, until the session cannot be writing it: a
// write started later on the same session has completed (the session writes one batch at a time, in
// order, so that batch came after the one holding the frames), or the session has closed.
import type { Http2Session } from 'node:http2';

interface Held {
  /** Writes started before this one was held; any write numbered from here on proves it sent. */
  after: number;
  /** The write's buffers, referenced until then. */
  keep: unknown;
  finish: () => void;
}

const bySession = new WeakMap<Http2Session, SessionWrites>();

export class SessionWrites {
  private started = 0;
  private closed = false;
  private held: Held[] = [];

  /** The tracker of a session's writes (one per session, shared by its streams' channels). */
  static of(session: Http2Session): SessionWrites {
    let writes = bySession.get(session);
    if (writes === undefined) {
      const created = new SessionWrites();
      session.once('close', () => created.release());
      bySession.set(session, created);
      writes = created;
    }
    return writes;
  }

  /** Numbers a write about to be made on one of the session's streams. */
  start(): number {
    return this.started++;
  }

  /**
   * Write `n` was called back: `finish` runs now, or, when its stream was destroyed or it failed
   * (`unsure`), once the session can no longer be sending it, with `keep` (its buffers) referenced till then.
   */
  settle(n: number, unsure: boolean, finish: () => void, keep?: unknown): void {
    if (unsure && !this.closed) {
      this.held.push({ after: this.started, keep, finish });
      return;
    }
    finish();
    // Sent: so were the frames of every write held before this one started.
    let k = 0;
    while (k < this.held.length && this.held[k]!.after <= n) k++;
    if (k > 0) for (const h of this.held.splice(0, k)) h.finish();
  }

  private release(): void {
    this.closed = true;
    const held = this.held;
    this.held = [];
    for (const h of held) h.finish();
  }
}
