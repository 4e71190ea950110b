import type { Clock } from './clock.js';

/**
 * Calls `fire` once, `delayMs` after the last `trigger()` (a burst of changes becomes one update), but no
 * later than `maxDelayMs` after the first trigger of the burst, so a constantly changing cluster still
 * publishes.
 */
export class Debouncer {
  private timer: unknown;
  private firstAt: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly fire: () => void,
    private readonly maxDelayMs: number = delayMs * 10,
  ) {}

  trigger(): void {
    const now = this.clock.now();
    this.firstAt ??= now;
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
    }
    const wait = Math.min(this.delayMs, Math.max(0, this.firstAt + this.maxDelayMs - now));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.firstAt = undefined;
      this.fire();
    }, wait);
  }

  cancel(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.firstAt = undefined;
  }
}
