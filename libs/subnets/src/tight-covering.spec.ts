import fc from 'fast-check';
import { inside, intervalOverlaps, ip } from '../test/arbitraries.js';
import { cidrOfIp, compareCidrs, formatCidr, size } from './cidr.js';
import type { Cidr } from './cidr.js';
import { coveringCidrs } from './covering.js';
import { formatIp } from './ip.js';
import { tightCoveringCidrs } from './tight-covering.js';

const tight = (ips: string[], max: number) => tightCoveringCidrs(ips, max).map(formatCidr);

describe('tightCoveringCidrs', () => {
  it.each([
    [[], 1, []],
    [['198.18.0.1'], 1, ['198.18.0.1/32']],
    [['198.18.0.1', '198.18.0.2'], 1, ['198.18.0.0/30']],
    [['198.18.0.1', '198.18.0.2'], 2, ['198.18.0.1/32', '198.18.0.2/32']],
    [['198.18.0.1', '198.18.255.1'], 1, ['198.18.0.0/16']],
    [['198.18.0.1', '198.18.255.1'], 2, ['198.18.0.1/32', '198.18.255.1/32']],
    // Two dense groups far apart: the cut goes between them.
    [
      ['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.200.1', '198.18.200.9'],
      2,
      ['198.18.0.0/30', '198.18.200.0/28'],
    ],
    // The budget is spent where it saves the most: splitting the wide /16 rather than the /30.
    [
      ['198.18.0.1', '198.18.0.2', '198.19.0.1', '198.19.255.1'],
      3,
      ['198.18.0.0/30', '198.19.0.1/32', '198.19.255.1/32'],
    ],
    [['2001:db8::1', '2001:db8::2', '198.18.0.1'], 2, ['198.18.0.1/32', '2001:db8::/126']],
    [['198.18.0.1', '198.18.0.1'], 1, ['198.18.0.1/32']],
    [['::ffff:198.18.0.1', '198.18.0.2'], 1, ['198.18.0.0/30']],
  ])('%j with max %i -> %j', (ips, max, want) => {
    expect(tight(ips, max)).toEqual(want);
  });

  it('matches coveringCidrs here with the same count, and gets tighter with a slightly larger budget', () => {
    const ips = ['198.18.0.1', '198.18.0.7', '198.18.1.3', '198.19.10.1', '198.19.200.1'];
    const loose = coveringCidrs(ips);
    const tighter = tightCoveringCidrs(ips, loose.length);
    expect(loose.map(formatCidr)).toEqual(['198.18.0.0/23', '198.19.0.0/16']);
    expect(tighter.map(formatCidr)).toEqual(['198.18.0.0/23', '198.19.0.0/16']);
    // One more network than coveringCidrs needs already drops the 65536-address /16.
    expect(tightCoveringCidrs(ips, 3).map(formatCidr)).toEqual([
      '198.18.0.0/23',
      '198.19.10.1/32',
      '198.19.200.1/32',
    ]);
    expect(tightCoveringCidrs(ips, 4).map(formatCidr)).toEqual([
      '198.18.0.0/29',
      '198.18.1.3/32',
      '198.19.10.1/32',
      '198.19.200.1/32',
    ]);
  });

  it('rejects a bad budget', () => {
    expect(() => tightCoveringCidrs(['198.18.0.1'], 0)).toThrow(RangeError);
    expect(() => tightCoveringCidrs(['198.18.0.1'], 1.5)).toThrow(
      'maxSubnets must be a positive integer, got 1.5',
    );
    expect(() => tightCoveringCidrs(['198.18.0.1', '2001:db8::1'], 1)).toThrow(
      'maxSubnets must be at least 2 to cover both IPv4 and IPv6, got 1',
    );
  });

  it('properties: covers every IP, within budget, disjoint, sorted, exact when the budget allows', () => {
    fc.assert(
      fc.property(fc.array(ip(), { maxLength: 40 }), fc.integer({ min: 2, max: 45 }), (ips, max) => {
        const out = tightCoveringCidrs(ips.map(formatIp), max);
        for (const a of ips) expect(out.some((c) => inside(c, a))).toBe(true);
        expect(out.length).toBeLessThanOrEqual(max);
        for (const [i, a] of out.entries())
          for (const b of out.slice(i + 1)) expect(intervalOverlaps(a, b)).toBe(false);
        expect([...out].sort(compareCidrs)).toEqual(out);
        // Each network is as small as its own members allow: its two halves both hold an input IP.
        for (const c of out) {
          const members = ips.filter((a) => inside(c, a));
          expect(members.length).toBeGreaterThan(0);
          if (c.prefix < (c.family === 4 ? 32 : 128)) {
            const halfBit = 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix - 1);
            expect(members.some((a) => (a.address & halfBit) === 0n)).toBe(true);
            expect(members.some((a) => (a.address & halfBit) !== 0n)).toBe(true);
          }
        }
        const distinct = new Set(ips.map((a) => `${a.family}:${a.address}`)).size;
        if (distinct <= max) expect(out.every((c) => size(c) === 1n)).toBe(true);
        expect(tightCoveringCidrs(ips, max)).toEqual(out); // parsed input gives the same result
        if (distinct <= max)
          expect(out).toEqual(
            [...new Map(ips.map((a) => [`${a.family}:${a.address}`, cidrOfIp(a)])).values()].sort(
              compareCidrs,
            ),
          );
      }),
      { numRuns: 1000 },
    );
  });

  it('never covers more addresses than coveringCidrs when given at least as many networks', () => {
    fc.assert(
      fc.property(fc.array(ip(), { minLength: 1, maxLength: 60 }), fc.nat(3), (ips, extra) => {
        const loose = coveringCidrs(ips);
        const out = tightCoveringCidrs(ips, loose.length + extra);
        for (const family of [4, 6]) {
          const space = (cs: Cidr[]) =>
            cs.filter((c) => c.family === family).reduce((n, c) => n + size(c), 0n);
          expect(space(out)).toBeLessThanOrEqual(space(loose));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
