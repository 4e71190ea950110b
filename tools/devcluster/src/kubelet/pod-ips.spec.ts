import { FIRST_HOST, LAST_HOST, PodIps } from './pod-ips.js';

describe('PodIps', () => {
  it('hands out the address after the last one, not a just-released one', () => {
    const ips = new PodIps();
    expect([ips.allocate(), ips.allocate(), ips.allocate()]).toEqual([2, 3, 4]);
    ips.release(3);
    expect(ips.allocate()).toBe(5);
  });

  it('wraps around to free addresses and says when none is left', () => {
    const ips = new PodIps();
    const all = Array.from({ length: LAST_HOST - FIRST_HOST + 1 }, () => ips.allocate());
    expect(all[0]).toBe(FIRST_HOST);
    expect(all.at(-1)).toBe(LAST_HOST);
    expect(ips.allocate()).toBeUndefined();
    ips.release(7);
    ips.release(3);
    expect(ips.allocate()).toBe(3);
    expect(ips.allocate()).toBe(7);
    expect(ips.allocate()).toBeUndefined();
  });
});
