// When the daemon runs the exec credential plugin again: when 80% of the credential's lifetime has passed
// (it then has a fresh one well before the old one expires), and at once when the API server or the
// traffic-manager rejects the credential (a 401: revoked early, or no expiry given). A failed run keeps
// the old credential (it may still work until it expires), says why in `status()` and tries again with
// backoff. Runs never overlap; a 401 within UNAUTHORIZED_QUIET_MS of the last run does not run the plugin
// again (a fresh credential that is refused is not fixed by another run; a failing plugin has its retry
// timer; keep-alives every few seconds must not hammer it).
import type { ExecCredential } from './exec-credential.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RefresherOptions {
  /** Runs the plugin once. */
  readonly fetch: () => Promise<ExecCredential>;
  readonly now?: () => number;
  readonly timers?: Timers;
  /** A new credential is in use. */
  readonly onRefresh?: (c: ExecCredential) => void;
  readonly onError?: (e: unknown) => void;
  /** Why the plugin cannot be run again at all (e.g. it needs a terminal); nothing is scheduled. */
  readonly cannotRefresh?: string;
}

export interface RefreshStatus {
  readonly expiresAt?: number;
  readonly nextRefreshAt?: number;
  readonly refreshes: number;
  readonly problem: string;
}

/** Refresh after this share of the remaining lifetime. */
export const REFRESH_AT_LIFETIME_SHARE = 0.8;
/** Never sooner than this after a refresh (a credential that expires at once is not a reason to spin). */
export const MIN_REFRESH_DELAY_MS = 1_000;
/** Retries after a failure: this, doubling, up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 2_000;
export const RETRY_MAX_MS = 60_000;
/** A 401 within this time after a refresh does not run the plugin again. */
export const UNAUTHORIZED_QUIET_MS = 10_000;
/** The longest timer Node keeps (a longer one fires at once): a far expiry is looked at again then. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** When to refresh a credential obtained at `now` (undefined: it does not expire, refresh on 401 only). */
export function refreshDelay(now: number, expiresAt: number | undefined): number | undefined {
  if (expiresAt === undefined) return undefined;
  const delay = Math.floor((expiresAt - now) * REFRESH_AT_LIFETIME_SHARE);
  return Math.min(MAX_TIMER_MS, Math.max(MIN_REFRESH_DELAY_MS, delay));
}

/** How long to wait before retry number `failures` (1, 2, ...). */
export function retryDelay(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.max(0, failures - 1));
}

export class CredentialRefresher {
  private credential: ExecCredential;
  private obtainedAt: number;
  /** When the plugin last ran (or the initial credential came). */
  private lastRunAt: number;
  private timer: unknown;
  private nextAt: number | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private refreshes = 0;
  private problem: string;
  private closed = false;
  private readonly now: () => number;
  private readonly timers: Timers;

  constructor(
    initial: ExecCredential,
    private readonly o: RefresherOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.timers = o.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    };
    this.credential = initial;
    this.obtainedAt = this.now();
    this.lastRunAt = this.obtainedAt;
    this.problem = o.cannotRefresh ?? '';
    this.schedule(refreshDelay(this.obtainedAt, initial.expiresAt));
  }

  current(): ExecCredential {
    return this.credential;
  }

  status(): RefreshStatus {
    return {
      ...(this.credential.expiresAt === undefined ? {} : { expiresAt: this.credential.expiresAt }),
      ...(this.nextAt === undefined ? {} : { nextRefreshAt: this.nextAt }),
      refreshes: this.refreshes,
      problem: this.problem,
    };
  }

  /** The credential was refused (HTTP 401 / UNAUTHENTICATED): run the plugin now, unless just done. */
  unauthorized(): Promise<void> {
    if (this.closed || this.o.cannotRefresh !== undefined) return Promise.resolve();
    if (this.running) return this.running;
    if (this.now() - this.lastRunAt < UNAUTHORIZED_QUIET_MS) return Promise.resolve();
    return this.refresh();
  }

  /** Runs the plugin now (one run at a time); resolves when done, never rejects. */
  refresh(): Promise<void> {
    if (this.closed || this.o.cannotRefresh !== undefined) return Promise.resolve();
    if (this.running) return this.running;
    this.cancel();
    this.lastRunAt = this.now();
    this.running = this.o
      .fetch()
      .then(
        (c) => {
          if (this.closed) return;
          this.credential = c;
          this.obtainedAt = this.now();
          this.failures = 0;
          this.refreshes++;
          this.problem = '';
          this.o.onRefresh?.(c);
          this.schedule(refreshDelay(this.obtainedAt, c.expiresAt));
        },
        (e: unknown) => {
          if (this.closed) return;
          this.failures++;
          const expired =
            this.credential.expiresAt !== undefined && this.credential.expiresAt <= this.now()
              ? 'the credential has expired and '
              : '';
          this.problem = `${expired}refreshing it failed: ${(e as Error).message ?? String(e)}`;
          this.o.onError?.(e);
          this.schedule(retryDelay(this.failures));
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  close(): void {
    this.closed = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
  }

  private schedule(delayMs: number | undefined): void {
    this.cancel();
    if (delayMs === undefined || this.closed || this.o.cannotRefresh !== undefined) return;
    this.nextAt = this.now() + delayMs;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, delayMs);
  }
}
