// The review cache: reuse within the TTL, a background review past half of it, nothing older than it.
import { FakeClock } from '../util/clock.js';
import { ReviewCache } from './review-cache.js';

function reviews(): { run: () => Promise<string>; count: () => number; settle: (v: string | Error) => void } {
  let n = 0;
  let settle: (v: string | Error) => void = () => undefined;
  return {
    run: () => {
      n++;
      return new Promise<string>((resolve, reject) => {
        settle = (v) => (v instanceof Error ? reject(v) : resolve(v));
      });
    },
    count: () => n,
    settle: (v) => settle(v),
  };
}

/** A cache with one result in it ('allowed', reviewed at time 0), its clock and its reviews. */
async function holding(): Promise<{
  clock: FakeClock;
  cache: ReviewCache<string>;
  r: ReturnType<typeof reviews>;
}> {
  const clock = new FakeClock();
  const cache = new ReviewCache<string>(clock, 1000);
  const r = reviews();
  const first = cache.get('k', r.run);
  r.settle('allowed');
  await first;
  return { clock, cache, r };
}

describe('ReviewCache', () => {
  it('shares one review between concurrent callers and reuses its result within the first half of the TTL', async () => {
    const clock = new FakeClock();
    const cache = new ReviewCache<string>(clock, 1000);
    const r = reviews();
    const a = cache.get('k', r.run);
    const b = cache.get('k', r.run);
    r.settle('allowed');
    expect(await Promise.all([a, b])).toEqual(['allowed', 'allowed']);
    clock.advance(499);
    expect(await cache.get('k', r.run)).toBe('allowed');
    expect(r.count()).toBe(1);
  });

  it('past half the TTL answers at once from the cache and reviews in the background', async () => {
    const { clock, cache, r } = await holding();
    clock.advance(600);
    expect(await cache.get('k', r.run)).toBe('allowed'); // not waiting for the review it started
    expect(await cache.get('k', r.run)).toBe('allowed');
    expect(r.count()).toBe(2); // one background review, not one per call
    r.settle('denied');
    await new Promise((res) => setImmediate(res));
    expect(await cache.get('k', r.run)).toBe('denied');
    expect(r.count()).toBe(2);
  });

  it('never answers with a result older than the TTL: then the caller waits for the review', async () => {
    const { clock, cache, r } = await holding();
    clock.advance(1000);
    let answered: string | undefined;
    const next = cache.get('k', r.run).then((v) => (answered = v));
    await new Promise((res) => setImmediate(res));
    expect(answered).toBeUndefined();
    r.settle('denied');
    await next;
    expect(answered).toBe('denied');
  });

  it('a background review that fails keeps the result until it expires, and is not kept', async () => {
    const { clock, cache, r } = await holding();
    clock.advance(700);
    expect(await cache.get('k', r.run)).toBe('allowed');
    r.settle(new Error('API server unreachable'));
    await new Promise((res) => setImmediate(res));
    expect(await cache.get('k', r.run)).toBe('allowed'); // another background try
    expect(r.count()).toBe(3);
    clock.advance(300);
    const expired = cache.get('k', r.run);
    r.settle(new Error('still unreachable'));
    await expect(expired).rejects.toThrow('still unreachable');
  });
});
