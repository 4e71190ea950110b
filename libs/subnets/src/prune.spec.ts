import fc from 'fast-check';
import { addressesOf, cidr, intervalCovers, smallCidr } from '../test/arbitraries.js';
import { equal, formatCidr, parseCidr } from './cidr.js';
import { pruneCovered } from './prune.js';

const prune = (xs: string[]) => pruneCovered(xs.map(parseCidr)).map(formatCidr);

describe('pruneCovered', () => {
  it.each([
    [[], []],
    [['198.18.0.0/16'], ['198.18.0.0/16']],
    [['198.18.0.0/24', '198.18.0.0/16'], ['198.18.0.0/16']],
    [['198.18.0.0/16', '198.18.0.0/16', '198.18.1.0/24'], ['198.18.0.0/16']],
    [
      ['198.19.0.0/16', '2001:db8:1::/48', '198.18.0.0/16', '2001:db8::/32'],
      ['198.19.0.0/16', '198.18.0.0/16', '2001:db8::/32'],
    ], // input order kept
    [
      ['198.18.0.0/25', '198.18.0.128/25'],
      ['198.18.0.0/25', '198.18.0.128/25'],
    ], // siblings are not merged
    [
      ['0.0.0.0/0', '::/0', '198.18.0.0/16', '2001:db8::/32'],
      ['0.0.0.0/0', '::/0'],
    ],
    [
      ['::ffff:198.18.0.0/120', '198.18.0.0/24'],
      ['::ffff:198.18.0.0/120', '198.18.0.0/24'],
    ], // families differ
  ])('%j -> %j', (input, want) => {
    expect(prune(input)).toEqual(want);
  });

  it('keeps the first of duplicates (by identity)', () => {
    const a = parseCidr('198.18.0.0/16');
    const b = parseCidr('198.18.0.0/16');
    expect(pruneCovered([a, b])[0]).toBe(a);
  });

  it('result: a subsequence of the input, no member covered by another, everything still covered', () => {
    fc.assert(
      fc.property(fc.array(cidr(), { maxLength: 30 }), (input) => {
        const out = pruneCovered(input);
        let at = 0;
        for (const o of out) {
          at = input.indexOf(o, at);
          expect(at).toBeGreaterThanOrEqual(0);
        }
        for (const [i, a] of out.entries()) {
          for (const [j, b] of out.entries()) if (i !== j) expect(intervalCovers(a, b)).toBe(false);
        }
        for (const x of input) expect(out.some((o) => intervalCovers(o, x))).toBe(true);
        // Kept exactly the inputs no *other distinct* input covers, plus the first of each duplicate.
        for (const [i, x] of input.entries()) {
          const dropped = input.some(
            (y, j) => (intervalCovers(y, x) && !equal(y, x)) || (equal(y, x) && j < i),
          );
          expect(out.includes(x)).toBe(!dropped);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('covers exactly the same addresses (enumerated)', () => {
    fc.assert(
      fc.property(fc.array(smallCidr(), { maxLength: 20 }), (input) => {
        expect(addressesOf(pruneCovered(input))).toEqual(addressesOf(input));
      }),
    );
  });
});
