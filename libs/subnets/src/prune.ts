import { compareCidrs, hostMask } from './cidr.js';
import type { Cidr } from './cidr.js';

/**
 * Drops duplicates and every network covered by another one; the survivors keep their input order
 * (of duplicates, the first one stays). O(n log n): after sorting by (family, address, wider first),
 * a network is covered exactly when it ends inside the last kept network of its family.
 */
export function pruneCovered(cidrs: readonly Cidr[]): Cidr[] {
  const order = cidrs.map((_, i) => i);
  order.sort((i, j) => compareCidrs(cidrs[i]!, cidrs[j]!) || i - j);
  const keep = new Uint8Array(cidrs.length);
  let family = 0;
  let coveredUpTo = -1n;
  for (const i of order) {
    const c = cidrs[i]!;
    const last = c.address | hostMask(c.family, c.prefix);
    if (c.family === family && last <= coveredUpTo) continue;
    family = c.family;
    coveredUpTo = last;
    keep[i] = 1;
  }
  return cidrs.filter((_, i) => keep[i] === 1);
}
