// fast-check arbitraries and a brute-force interval model shared by the property tests. Addresses are
// drawn near a few bases (198.18.0.0/15, 2001:db8::/32) so that random networks overlap often.
import fc from 'fast-check';
import { makeCidr } from '../src/cidr.js';
import type { Cidr } from '../src/cidr.js';
import type { IpAddress, IpFamily } from '../src/ip.js';

export const V4_BASE = 0xc6120000n; // 198.18.0.0
export const V6_BASE = 0x20010db8n << 96n; // 2001:db8::

/** IPv4 addresses: mostly inside 198.18.0.0/23, sometimes anywhere. */
export const ipv4 = (): fc.Arbitrary<IpAddress> =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 511 }).map((n) => V4_BASE + BigInt(n)) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 0xffff_ffffn }) },
    )
    .map((address) => ({ family: 4 as const, address }));

/** IPv6 addresses: 2001:db8:: plus a few set bits at random positions, sometimes anywhere. */
export const ipv6 = (): fc.Arbitrary<IpAddress> =>
  fc
    .oneof(
      {
        weight: 4,
        arbitrary: fc
          .array(fc.integer({ min: 0, max: 95 }), { maxLength: 4 })
          .map((bits) => bits.reduce((a, b) => a | (1n << BigInt(b)), V6_BASE)),
      },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }) },
    )
    .map((address) => ({ family: 6 as const, address }));

export const ip = (family?: IpFamily): fc.Arbitrary<IpAddress> =>
  family === 4 ? ipv4() : family === 6 ? ipv6() : fc.oneof(ipv4(), ipv6());

/** Networks with prefixes biased to the range where they overlap the generated addresses. */
export const cidr = (family?: IpFamily): fc.Arbitrary<Cidr> =>
  ip(family).chain((a) =>
    fc
      .integer({ min: a.family === 4 ? 20 : 88, max: a.family === 4 ? 32 : 128 })
      .chain((p) => fc.oneof({ weight: 5, arbitrary: fc.constant(p) }, fc.integer({ min: 0, max: p })))
      .map((prefix) => makeCidr(a.family, a.address, prefix)),
  );

/** Small networks inside 198.18.0.0/24, so a test can enumerate every address. */
export const smallCidr = (): fc.Arbitrary<Cidr> =>
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 }))
    .map(([n, prefix]) => makeCidr(4, V4_BASE + BigInt(n), prefix));

// Brute-force model: a network is the closed interval [first, last].
export const first = (c: Cidr): bigint => c.address;
export const last = (c: Cidr): bigint =>
  c.address + (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n;
export const inside = (c: Cidr, a: IpAddress): boolean =>
  c.family === a.family && first(c) <= a.address && a.address <= last(c);
export const intervalCovers = (a: Cidr, b: Cidr): boolean =>
  a.family === b.family && first(a) <= first(b) && last(b) <= last(a);
export const intervalOverlaps = (a: Cidr, b: Cidr): boolean =>
  a.family === b.family && first(a) <= last(b) && first(b) <= last(a);

/** Every address (as a number offset from 198.18.0.0) of small networks inside 198.18.0.0/24. */
export function addressesOf(cidrs: readonly Cidr[]): Set<number> {
  const out = new Set<number>();
  for (const c of cidrs) {
    for (let a = first(c); a <= last(c); a++) out.add(Number(a - V4_BASE));
  }
  return out;
}
