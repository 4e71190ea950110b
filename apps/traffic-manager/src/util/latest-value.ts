/**
 * Holds the latest value of something that changes (the cluster info, an intercept snapshot) and lets any
 * number of subscribers follow it. Subscribers never queue: a slow subscriber skips intermediate values and
 * always ends with the latest one (the original's buffered, non-blocking channel could drop the last update).
 */
export class LatestValue<T> {
  private value: T;
  private version = 0;
  private waiters: Array<() => void> = [];
  private readonly equals: (a: T, b: T) => boolean;

  constructor(initial: T, equals: (a: T, b: T) => boolean = Object.is) {
    this.value = initial;
    this.equals = equals;
  }

  get current(): T {
    return this.value;
  }

  /** Replaces the value; returns false (and wakes nobody) when it equals the current one. */
  set(next: T): boolean {
    if (this.equals(this.value, next)) {
      return false;
    }
    this.value = next;
    this.version++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) {
      wake();
    }
    return true;
  }

  /**
   * Yields the current value at once, then the latest value after each change, until the signal aborts
   * (then the iterator just ends). Pulling slowly coalesces changes; the final value is never lost.
   */
  async *watch(signal: AbortSignal): AsyncGenerator<T, void, undefined> {
    let seen = -1;
    while (!signal.aborted) {
      if (seen !== this.version) {
        seen = this.version;
        yield this.value;
        continue;
      }
      await this.changed(signal);
    }
  }

  private changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        // Leave no stale waiter behind when a watcher goes away between changes.
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  /** Watchers waiting for the next change (for tests). */
  get waiting(): number {
    return this.waiters.length;
  }
}
