import { LatestValue } from './latest-value.js';

describe('LatestValue', () => {
  it('yields the current value at once, then each change to a reader that keeps up', async () => {
    const v = new LatestValue(1);
    const abort = new AbortController();
    const it = v.watch(abort.signal);
    expect((await it.next()).value).toBe(1);
    const next = it.next();
    v.set(2);
    expect((await next).value).toBe(2);
    abort.abort();
    expect((await it.next()).done).toBe(true);
  });

  it('coalesces for a slow reader and never loses the last value', async () => {
    const v = new LatestValue(0);
    const abort = new AbortController();
    const it = v.watch(abort.signal);
    expect((await it.next()).value).toBe(0);
    for (let i = 1; i <= 100; i++) v.set(i);
    expect((await it.next()).value).toBe(100);
    const pending = it.next();
    v.set(101);
    expect((await pending).value).toBe(101);
    abort.abort();
  });

  it('forgets a watcher that stops while waiting', async () => {
    const v = new LatestValue(0);
    const abort = new AbortController();
    const it = v.watch(abort.signal);
    await it.next();
    const pending = it.next();
    await Promise.resolve();
    expect(v.waiting).toBe(1);
    abort.abort();
    expect((await pending).done).toBe(true);
    expect(v.waiting).toBe(0);
  });

  it('ignores sets of an equal value', async () => {
    const v = new LatestValue({ a: 1 }, (x, y) => x.a === y.a);
    expect(v.set({ a: 1 })).toBe(false);
    expect(v.set({ a: 2 })).toBe(true);
  });
});
