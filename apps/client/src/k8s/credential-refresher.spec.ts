import {
  CredentialRefresher,
  MAX_TIMER_MS,
  MIN_REFRESH_DELAY_MS,
  RETRY_MAX_MS,
  UNAUTHORIZED_QUIET_MS,
  refreshDelay,
  retryDelay,
  type Timers,
} from './credential-refresher.js';
import type { ExecCredential } from './exec-credential.js';

/** A clock and timers that move only when told. */
class FakeTime implements Timers {
  now = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.now);
  }
  /** Moves to `ms` later, firing the timers due on the way, and lets their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const SECOND = 1000;

function rig(initial: ExecCredential, results: Array<ExecCredential | Error>, cannotRefresh?: string) {
  const time = new FakeTime();
  const runs: number[] = [];
  const refreshed: ExecCredential[] = [];
  const errors: string[] = [];
  const r = new CredentialRefresher(initial, {
    now: () => time.now,
    timers: time,
    fetch: async () => {
      runs.push(time.now);
      const next = results.shift();
      if (next === undefined) throw new Error('no more results');
      if (next instanceof Error) throw next;
      return next;
    },
    onRefresh: (c) => refreshed.push(c),
    onError: (e) => errors.push((e as Error).message),
    ...(cannotRefresh === undefined ? {} : { cannotRefresh }),
  });
  return { time, r, runs, refreshed, errors, start: time.now };
}

describe('credential refresh scheduling', () => {
  it.each([
    { lifetime: 20 * SECOND, delay: 16 * SECOND },
    { lifetime: 3600 * SECOND, delay: 2880 * SECOND },
    { lifetime: 500, delay: MIN_REFRESH_DELAY_MS },
    { lifetime: -5 * SECOND, delay: MIN_REFRESH_DELAY_MS },
  ])('refreshes a credential living $lifetime ms after $delay ms', ({ lifetime, delay }) => {
    expect(refreshDelay(1000, 1000 + lifetime)).toBe(delay);
  });

  it('never asks for a timer longer than Node keeps (a longer one would fire at once, in a loop)', () => {
    expect(refreshDelay(0, 400 * 24 * 3600 * SECOND)).toBe(MAX_TIMER_MS);
  });

  it('does not schedule a credential without expiry', () => {
    expect(refreshDelay(1000, undefined)).toBeUndefined();
  });

  it('backs off after failures, up to a limit', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(retryDelay)).toEqual([
      2000,
      4000,
      8000,
      16000,
      32000,
      RETRY_MAX_MS,
      RETRY_MAX_MS,
      RETRY_MAX_MS,
    ]);
  });

  it('runs the plugin before the credential expires, and again before the new one expires', async () => {
    const t0 = 1_000_000;
    const { time, r, runs, refreshed } = rig({ token: 'one', expiresAt: t0 + 20 * SECOND }, [
      { token: 'two', expiresAt: t0 + 16 * SECOND + 20 * SECOND },
      { token: 'three', expiresAt: t0 + 60 * SECOND + 20 * SECOND },
    ]);
    expect(r.current().token).toBe('one');
    expect(r.status().nextRefreshAt).toBe(t0 + 16 * SECOND);
    await time.advance(16 * SECOND - 1);
    expect(runs).toEqual([]);
    await time.advance(1);
    expect(runs).toEqual([t0 + 16 * SECOND]);
    expect(r.current().token).toBe('two');
    expect(refreshed.map((c) => c.token)).toEqual(['two']);
    await time.advance(16 * SECOND);
    expect(r.current().token).toBe('three');
    expect(r.status()).toMatchObject({ refreshes: 2, problem: '' });
    r.close();
  });

  it('keeps the old credential when the plugin fails, says why, and retries with backoff', async () => {
    const t0 = 1_000_000;
    const down = () => new Error('plugin exited with 1: no network');
    const { time, r, runs, errors } = rig({ token: 'one', expiresAt: t0 + 20 * SECOND }, [
      down(),
      down(),
      down(),
      { token: 'two', expiresAt: t0 + 3600 * SECOND },
    ]);
    await time.advance(16 * SECOND);
    expect(r.current().token).toBe('one');
    expect(r.status().problem).toBe('refreshing it failed: plugin exited with 1: no network');
    expect(errors).toHaveLength(1);
    expect(time.pending()).toEqual([retryDelay(1)]);
    await time.advance(retryDelay(1) + retryDelay(2)); // 22 s: past the expiry
    // Still the old one (nothing better), and status says it has expired.
    expect(r.current().token).toBe('one');
    expect(r.status().problem).toMatch(/^the credential has expired and refreshing it failed/);
    await time.advance(retryDelay(3));
    expect(runs).toHaveLength(4);
    expect(r.current().token).toBe('two');
    expect(r.status().problem).toBe('');
    r.close();
  });

  it('runs the plugin at once on a 401, once for concurrent 401s, not again right after a refresh', async () => {
    const { time, r, runs } = rig({ token: 'one' }, [{ token: 'two' }, { token: 'three' }]);
    expect(time.pending()).toEqual([]); // no expiry: only a 401 refreshes
    await time.advance(UNAUTHORIZED_QUIET_MS);
    await Promise.all([r.unauthorized(), r.unauthorized(), r.unauthorized()]);
    expect(runs).toHaveLength(1);
    expect(r.current().token).toBe('two');
    // A 401 right after the refresh: the fresh credential is refused for another reason.
    await time.advance(UNAUTHORIZED_QUIET_MS - 1);
    await r.unauthorized();
    expect(runs).toHaveLength(1);
    await time.advance(1);
    await r.unauthorized();
    expect(runs).toHaveLength(2);
    expect(r.current().token).toBe('three');
    r.close();
  });

  it('after a failed run, 401s (keep-alives every few seconds) do not hammer the plugin', async () => {
    const { time, r, runs, start } = rig({ token: 'one' }, [new Error('down'), { token: 'two' }]);
    await time.advance(UNAUTHORIZED_QUIET_MS);
    await r.unauthorized(); // runs, fails
    expect(runs).toEqual([start + 10_000]);
    await time.advance(retryDelay(1)); // the retry timer runs it again
    expect(runs).toEqual([start + 10_000, start + 12_000]);
    expect(r.current().token).toBe('two');
    await time.advance(UNAUTHORIZED_QUIET_MS - 1);
    await r.unauthorized(); // within 10 s of the last run: nothing
    expect(runs).toHaveLength(2);
    await time.advance(1);
    await r.unauthorized();
    expect(runs).toHaveLength(3);
    r.close();
  });

  it('never runs a plugin it cannot run (interactive), and says so', async () => {
    const { time, r, runs } = rig(
      { token: 'one', expiresAt: 1_000_000 + 20 * SECOND },
      [],
      'needs a terminal',
    );
    await time.advance(60 * SECOND);
    await r.unauthorized();
    expect(runs).toEqual([]);
    expect(r.status()).toMatchObject({ problem: 'needs a terminal', refreshes: 0 });
    expect(r.status().nextRefreshAt).toBeUndefined();
  });

  it('stops on close: no timer left, a run in flight is not applied', async () => {
    const { time, r } = rig({ token: 'one', expiresAt: 1_000_000 + 20 * SECOND }, [{ token: 'two' }]);
    r.close();
    expect(time.pending()).toEqual([]);
    await r.refresh();
    expect(r.current().token).toBe('one');
  });
});
