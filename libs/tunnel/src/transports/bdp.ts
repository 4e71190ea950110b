// Receive windows of the HTTP/2 connections that carry tunnels, sized by bandwidth-delay-product
// estimation (as grpc-go and the Go original do). A connection's window bounds the bytes in the pipes
// between the two HTTP/2 stacks (socket buffers, the port-forward), and every new flow's dial and first
// bytes wait behind them: with a fixed 16 MiB window, a dial waited ~0.9 s behind 32 bulk flows. So the
// window starts small and grows only while that makes the connection faster: while data arrives, one PING
// at a time measures the round trip and the bytes received during it; when those fill 2/3 of the window
// and the bandwidth is the highest seen, the window becomes twice the sample (at most `max`). On a fast
// local path it stays small; over a slow port-forward it grows to what the round trip needs.
import type { Http2Session } from 'node:http2';

/** Fraction of the window a round trip's bytes must fill before the window grows (grpc-go's beta). */
const GROW_WHEN_FILLED = 2 / 3;
/**
 * A measurement starts only on a chunk this big (a full HTTP/2 DATA frame): bulk transfers, the only ones
 * a bigger window helps, bring them. Interactive flows' small messages never start one: a PING per
 * request/response exchange added ~0.1 ms to every round trip (measured, 64-byte ping-pong).
 */
const PROBE_MIN_CHUNK_BYTES = 16 * 1024;

const estimators = new WeakMap<Http2Session, BdpWindow>();

/** The estimator of a session, if it has one. */
export function bdpWindowOf(session: Http2Session | undefined): BdpWindow | undefined {
  return session === undefined ? undefined : estimators.get(session);
}

export class BdpWindow {
  private windowBytes: number;
  private sampleBytes = 0;
  private pinging = false;
  private bestBytesPerMs = 0;

  /** Gives `session` a receive window of `initial` bytes that grows up to `max`; call once it is connected. */
  static attach(session: Http2Session, initial: number, max: number): BdpWindow {
    const w = new BdpWindow(session, Math.min(initial, max), max);
    estimators.set(session, w);
    return w;
  }

  private constructor(
    private readonly session: Http2Session,
    initial: number,
    private readonly max: number,
  ) {
    this.windowBytes = initial;
    session.setLocalWindowSize(initial);
  }

  get window(): number {
    return this.windowBytes;
  }

  /** Every DATA byte received on the session's tunnel streams. */
  received(bytes: number): void {
    if (this.windowBytes >= this.max) return; // nothing left to learn
    this.sampleBytes += bytes;
    if (this.pinging || bytes < PROBE_MIN_CHUNK_BYTES) return;
    if (this.session.destroyed || this.session.connecting) return;
    this.pinging = true;
    this.sampleBytes = bytes;
    let sent = false;
    try {
      sent = this.session.ping((err, durationMs) => {
        this.pinging = false;
        if (err === null) this.measured(this.sampleBytes, durationMs);
      });
    } catch {
      // too many PINGs outstanding (keep-alives): measure on a later chunk
    }
    if (!sent) this.pinging = false;
  }

  private measured(bytes: number, durationMs: number): void {
    const bytesPerMs = bytes / Math.max(durationMs, 0.001);
    if (bytes < this.windowBytes * GROW_WHEN_FILLED || bytesPerMs <= this.bestBytesPerMs) return;
    this.bestBytesPerMs = bytesPerMs;
    const next = Math.min(this.max, 2 * bytes);
    if (next <= this.windowBytes || this.session.destroyed) return;
    this.windowBytes = next;
    this.session.setLocalWindowSize(next);
  }
}
