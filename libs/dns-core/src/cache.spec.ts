import { DnsCache, cacheKey } from './cache.js';
import { Rcode } from './types.js';
import { EMPTY_SECTION } from './wire.js';

const answer = (rcode: number) => ({ rcode, records: [], section: EMPTY_SECTION });

describe('DnsCache', () => {
  let now = 0;
  const make = (maxEntries = 100) =>
    new DnsCache({ ttlMs: 1000, negativeTtlMs: 100, maxEntries, now: () => now });
  beforeEach(() => (now = 0));

  it('expires positive answers after ttlMs and NXDOMAIN after negativeTtlMs', () => {
    const c = make();
    c.set(cacheKey('a', 'A'), answer(Rcode.NOERROR));
    c.set(cacheKey('b', 'A'), answer(Rcode.NXDOMAIN));
    now = 99;
    expect(c.get(cacheKey('b', 'A'))).toBeDefined();
    now = 100;
    expect(c.get(cacheKey('b', 'A'))).toBeUndefined();
    expect(c.get(cacheKey('a', 'A'))).toBeDefined();
    now = 1000;
    expect(c.get(cacheKey('a', 'A'))).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('does not store failures', () => {
    const c = make();
    c.set(cacheKey('a', 'A'), answer(Rcode.SERVFAIL));
    expect(c.size).toBe(0);
  });

  it('is bounded, evicting the oldest', () => {
    const c = make(3);
    for (const n of ['a', 'b', 'c', 'd']) c.set(cacheKey(n, 'A'), answer(Rcode.NOERROR));
    expect(c.size).toBe(3);
    expect(c.get(cacheKey('a', 'A'))).toBeUndefined();
    expect(c.get(cacheKey('d', 'A'))).toBeDefined();
  });

  it('knows a name exists from any positive type (NODATA, not NXDOMAIN)', () => {
    const c = make();
    c.set(cacheKey('a', 'AAAA'), answer(Rcode.NOERROR));
    expect(c.nameExists('a')).toBe(true);
    expect(c.nameExists('b')).toBe(false);
    c.flush();
    expect(c.nameExists('a')).toBe(false);
  });
});
