// Runs a level-triggered reconcile pass after store changes of interest, coalesced, never re-entrant.
import type { Store, StoreEvent } from '../api/store.js';

export class Reconciler {
  private scheduled = false;
  private running = false;
  private again = false;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(
    store: Store,
    private readonly name: string,
    interested: (e: StoreEvent) => boolean,
    private readonly pass: () => Promise<void> | void,
    private readonly log: (msg: string) => void,
  ) {
    this.unsubscribe = store.subscribe((e) => {
      if (interested(e)) this.trigger();
    });
  }

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    try {
      await this.pass();
    } catch (err) {
      this.log(`${this.name}: ${(err as Error).message}`);
      setTimeout(() => this.trigger(), 500).unref();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.trigger();
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }
}
