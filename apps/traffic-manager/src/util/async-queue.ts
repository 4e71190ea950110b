/** Thrown by AsyncQueue.push when the queue is full: the producer must fail the item, not wait forever. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/**
 * A bounded FIFO read by one consumer through `take`. Used for per-session dial requests and agent DNS
 * queries, where each item carries its own deadline, so a full queue rejects instead of blocking.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.items.length >= this.capacity) {
      throw new QueueFullError(`queue full (${this.capacity} items)`);
    }
    this.items.push(item);
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.();
  }

  /** Resolves with the next item, or undefined once the signal aborts. */
  async take(signal: AbortSignal): Promise<T | undefined> {
    while (!signal.aborted) {
      const item = this.items.shift();
      if (item !== undefined) {
        return item;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        signal.addEventListener('abort', done, { once: true });
        this.waiter = done;
      });
    }
    return undefined;
  }
}
