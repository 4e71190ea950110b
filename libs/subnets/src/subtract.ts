import { covers, makeCidr } from './cidr.js';
import type { Cidr } from './cidr.js';
import { familyBits } from './ip.js';
import { pruneCovered } from './prune.js';

/**
 * `a` minus `b` as the fewest networks, sorted by address: `[a]` when they don't overlap, `[]` when
 * `b` covers `a`, otherwise one network per bit between the two prefixes (the sibling of each half
 * on the path from `a` down to `b`).
 */
export function subtract(a: Cidr, b: Cidr): Cidr[] {
  if (covers(b, a)) return [];
  if (!covers(a, b)) return [a];
  const bits = familyBits(a.family);
  const out: Cidr[] = [];
  for (let prefix = a.prefix + 1; prefix <= b.prefix; prefix++) {
    // The half at this level that does not hold b: b's network at this prefix with the last bit flipped.
    const bit = 1n << BigInt(bits - prefix);
    const onPath = b.address & ~((1n << BigInt(bits - prefix)) - 1n);
    out.push(makeCidr(a.family, onPath ^ bit, prefix));
  }
  return out.sort((x, y) => (x.address < y.address ? -1 : 1));
}

/**
 * Every address in some `as` network and in no `bs` network, as disjoint networks sorted IPv4 first
 * by address. Overlapping `as` are pruned first. Each input network is split minimally, but siblings
 * from different inputs are not merged (198.18.0.0/25 and 198.18.0.128/25 stay two networks).
 */
export function subtractAll(as: readonly Cidr[], bs: readonly Cidr[]): Cidr[] {
  let pieces = pruneCovered(as);
  for (const b of bs) pieces = pieces.flatMap((p) => subtract(p, b));
  return pieces.sort((x, y) => x.family - y.family || (x.address < y.address ? -1 : 1));
}
