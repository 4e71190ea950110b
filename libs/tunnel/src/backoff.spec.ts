import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('grows by the multiplier up to the cap, and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('grows exponentially, is capped, and jitters both ways (the agent session loop settings)', () => {
    const b = { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 };
    const mid = new Backoff({ ...b, random: () => 0.5 });
    expect([0, 1, 2, 3, 4, 5].map(() => mid.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(new Backoff({ ...b, random: () => 0 }).next()).toBe(80);
    expect(new Backoff({ ...b, random: () => 1 }).next()).toBe(120);
  });

  it('randomises each delay by the jitter fraction either way', () => {
    const low = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 1 });
    expect(low.next()).toBe(800);
    expect(high.next()).toBe(1200);
  });
});

describe('sleep', () => {
  it('ends early when the signal aborts', async () => {
    const ctl = new AbortController();
    const slept = sleep(60_000, ctl.signal);
    ctl.abort();
    await expect(slept).resolves.toBeUndefined();
  });
});
