import type { Clock } from '../util/clock.js';

/**
 * Review results kept for a short time, so a flow pays no round trip and a new session at most one:
 * concurrent asks for the same key share one review (in flight), a result is reused until `ttlMs` has
 * passed, failures (the review could not be made) are not kept. A result past half its time is still
 * used while a review runs in the background to replace it, so callers that keep coming (every flow of
 * a session) never wait for one; nothing older than `ttlMs` is ever used. At most `maxEntries`; the
 * oldest go first.
 */
export class ReviewCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  private readonly inFlight = new Map<string, Promise<V>>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** The kept result, or the result of `review()` (shared with concurrent callers of the same key). */
  get(key: string, review: () => Promise<V>): Promise<V> {
    const e = this.entries.get(key);
    if (e !== undefined) {
      const age = this.clock.now() - e.at;
      if (age < this.ttlMs) {
        // Past half its time: replaced in the background; if that fails, kept until it expires.
        if (age >= this.ttlMs / 2 && !this.inFlight.has(key)) this.review(key, review).catch(() => undefined);
        return Promise.resolve(e.value);
      }
      this.entries.delete(key);
    }
    return this.inFlight.get(key) ?? this.review(key, review);
  }

  private review(key: string, review: () => Promise<V>): Promise<V> {
    const pending = review().then(
      (value) => {
        this.inFlight.delete(key);
        this.entries.delete(key);
        this.entries.set(key, { value, at: this.clock.now() });
        if (this.entries.size > this.maxEntries) {
          const oldest = this.entries.keys().next().value;
          if (oldest !== undefined) this.entries.delete(oldest);
        }
        return value;
      },
      (e: unknown) => {
        this.inFlight.delete(key);
        throw e;
      },
    );
    this.inFlight.set(key, pending);
    return pending;
  }
}
