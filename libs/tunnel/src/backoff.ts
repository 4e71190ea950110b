// Retry backoff for every reconnecting loop of the project (manager watches, agent and client sessions,
// the dial watch, the HTTP/2 tunnel connection): exponential with jitter, so that the clients of a
// restarted manager do not all come back in the same millisecond.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  multiplier?: number;
  /** Fraction of the delay randomised either way. */
  jitter?: number;
  random?: () => number;
}

/** Exponential backoff with jitter (grpc-js defaults: 1 s, x1.6, 20 %, capped). `reset()` after a success. */
export class Backoff {
  private nextMs: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 30_000;
    this.multiplier = options.multiplier ?? 1.6;
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
    this.nextMs = this.initialMs;
  }

  /** The delay to wait before the next attempt; grows the one after. */
  next(): number {
    const base = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * this.multiplier);
    return Math.max(0, Math.round(base * (1 + this.jitter * (this.random() * 2 - 1))));
  }

  reset(): void {
    this.nextMs = this.initialMs;
  }
}

/** Resolves after ms, or early (without error) when the signal aborts. The timer never keeps the process up. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
