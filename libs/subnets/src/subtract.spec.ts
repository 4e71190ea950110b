import fc from 'fast-check';
import {
  addressesOf,
  cidr,
  first,
  intervalCovers,
  intervalOverlaps,
  last,
  smallCidr,
} from '../test/arbitraries.js';
import { covers, formatCidr, parseCidr, size } from './cidr.js';
import type { Cidr } from './cidr.js';
import { subtract, subtractAll } from './subtract.js';

const sub = (a: string, b: string) => subtract(parseCidr(a), parseCidr(b)).map(formatCidr);

describe('subtract', () => {
  it.each([
    ['198.18.0.0/16', '198.19.0.0/16', ['198.18.0.0/16']], // disjoint
    ['198.18.0.0/16', '198.18.0.0/16', []], // equal
    ['198.18.0.0/16', '198.18.0.0/15', []], // b covers a
    ['198.18.0.0/16', '2001:db8::/32', ['198.18.0.0/16']], // other family
    ['198.18.0.0/23', '198.18.0.0/24', ['198.18.1.0/24']],
    ['198.18.0.0/23', '198.18.1.0/24', ['198.18.0.0/24']],
    [
      '198.18.0.0/16',
      '198.18.3.0/24',
      [
        '198.18.0.0/23',
        '198.18.2.0/24',
        '198.18.4.0/22',
        '198.18.8.0/21',
        '198.18.16.0/20',
        '198.18.32.0/19',
        '198.18.64.0/18',
        '198.18.128.0/17',
      ],
    ],
    ['0.0.0.0/0', '128.0.0.0/1', ['0.0.0.0/1']],
    ['2001:db8::/32', '2001:db8:8000::/34', ['2001:db8::/33', '2001:db8:c000::/34']],
    ['198.18.0.0/30', '198.18.0.2/32', ['198.18.0.0/31', '198.18.0.3/32']],
  ])('%s - %s = %j', (a, b, want) => {
    expect(sub(a, b)).toEqual(want);
  });

  it('properties: disjoint pieces inside a, outside b, and a = pieces + (a ∩ b); minimal count', () => {
    fc.assert(
      fc.property(cidr(), cidr(), (a, b) => {
        const out = subtract(a, b);
        expect(out.every((p) => intervalCovers(a, p) && !intervalOverlaps(p, b))).toBe(true);
        // Sorted by address and each piece ends before the next starts: pairwise disjoint.
        expect(out.every((p, i) => i === 0 || last(out[i - 1]!) < first(p))).toBe(true);
        const intersection = intervalCovers(a, b) ? size(b) : intervalCovers(b, a) ? size(a) : 0n;
        expect(out.reduce((n, p) => n + size(p), 0n) + intersection).toBe(size(a));
        if (covers(a, b) && a.prefix < b.prefix) expect(out).toHaveLength(b.prefix - a.prefix);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('subtractAll', () => {
  const all = (as: string[], bs: string[]) =>
    subtractAll(as.map(parseCidr), bs.map(parseCidr)).map(formatCidr);

  it.each([
    [[], ['198.18.0.0/16'], []],
    [['198.18.0.0/16'], [], ['198.18.0.0/16']],
    [['198.18.0.0/24', '198.18.0.0/16'], ['198.18.0.0/17'], ['198.18.128.0/17']], // overlapping as pruned
    [
      ['198.18.0.0/24', '2001:db8::/127'],
      ['198.18.0.0/25', '198.18.0.192/26', '2001:db8::1/128'],
      ['198.18.0.128/26', '2001:db8::/128'],
    ],
  ])('%j - %j = %j', (as, bs, want) => {
    expect(all(as, bs)).toEqual(want);
  });

  it('equals set difference on enumerated addresses, pieces disjoint', () => {
    fc.assert(
      fc.property(
        fc.array(smallCidr(), { maxLength: 8 }),
        fc.array(smallCidr(), { maxLength: 8 }),
        (as: Cidr[], bs: Cidr[]) => {
          const out = subtractAll(as, bs);
          const removed = addressesOf(bs);
          const want = new Set([...addressesOf(as)].filter((x) => !removed.has(x)));
          expect(addressesOf(out)).toEqual(want);
          const total = out.reduce((n, p) => n + Number(size(p)), 0);
          expect(total).toBe(want.size); // disjoint
        },
      ),
    );
  });
});
