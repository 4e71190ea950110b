// tightCoveringCidrs: cover the same IPs as coveringCidrs with (usually much) less address space, in at
// most maxSubnets networks.
//
// Trade-off versus coveringCidrs (the Go original's heuristic):
// - coveringCidrs is O(n), never needs a bound and gives one network per /16 (/64) that holds pods, but
//   it over-covers: two pods at 198.18.0.1 and 198.18.255.1 give the whole /16, and the last octet is
//   never split, so a lone pod still claims a /24. Over-covering routes addresses that aren't pods into
//   the cluster and makes conflicts with local routes more likely.
// - tightCoveringCidrs sorts (O(n log n)) and puts the cuts where neighbouring addresses share the fewest
//   leading bits, so it claims only what the budget forces it to. With a generous budget it hugs the pods
//   (down to /32), which means the result changes more often as pods come and go: more route updates.
//   With maxSubnets >= coveringCidrs(ips).length it never covers more addresses than coveringCidrs (in
//   either family): cutting every neighbour pair that shares fewer than 16 IPv4 / 64 IPv6 bits (64 on
//   the common scale below) gives exactly coveringCidrs' buckets, so the chosen threshold is at least 64,
//   its runs refine those buckets, and a run's cover lies inside its bucket's cover. With a smaller
//   budget it has to return wider networks, up to 0.0.0.0/0 for maxSubnets = 1 over scattered IPs.
import { makeCidr } from './cidr.js';
import type { Cidr } from './cidr.js';
import type { IpInput } from './covering.js';
import { CidrError } from './errors.js';
import { ipFromBytes, parseIpInto } from './ip.js';

/**
 * At most `maxSubnets` disjoint networks covering every IP in `ips`, sorted IPv4 first by address.
 * Method: sort the distinct addresses; the common prefix of two neighbours says how large a network
 * joining them must be. Networks are the runs between cuts, and a run is covered by the common prefix
 * of its first and last address. Cut at every neighbour pair sharing fewer than `t` leading bits, with
 * `t` as large as the budget allows; spend what is left of the budget splitting the runs that save the
 * most addresses. To compare the families, one IPv4 bit weighs as four IPv6 bits: an IPv4 /16 is as coarse
 * as an IPv6 /64, the same equivalence as coveringCidrs' buckets. (Weighing by raw address count would
 * rather merge IPv4 into 0.0.0.0/0 than split one IPv6 /64, since IPv6 subnets are so much larger.)
 * IPv4-mapped IPv6 addresses count as IPv4, as in coveringCidrs.
 * @throws RangeError if maxSubnets is not an integer at least the number of families present.
 * @throws CidrError on a malformed address.
 */
export function tightCoveringCidrs(ips: Iterable<IpInput>, maxSubnets: number): Cidr[] {
  if (!Number.isInteger(maxSubnets) || maxSubnets < 1) {
    throw new RangeError(`maxSubnets must be a positive integer, got ${maxSubnets}`);
  }
  const { v4, v6 } = collect(ips);
  const n4 = v4.length;
  const n = n4 + v6.length;
  if (n === 0) return [];
  const families = (n4 > 0 ? 1 : 0) + (v6.length > 0 ? 1 : 0);
  if (maxSubnets < families) {
    throw new RangeError(
      `maxSubnets must be at least ${families} to cover both IPv4 and IPv6, got ${maxSubnets}`,
    );
  }

  // lcp[i]: leading bits shared by element i and i+1 on a 128-bit scale, IPv4 bits counting 4 times
  // (-1 between families).
  const lcp = new Int16Array(Math.max(0, n - 1));
  for (let i = 0; i + 1 < n; i++) {
    if (i + 1 < n4) lcp[i] = 4 * Math.clz32((v4[i]! ^ v4[i + 1]!) >>> 0);
    else if (i + 1 === n4) lcp[i] = -1;
    else lcp[i] = 128 - bitLength(v6[i - n4]! ^ v6[i + 1 - n4]!);
  }

  // Largest t with 1 + #(lcp < t) <= maxSubnets.
  const histogram = new Int32Array(130); // index lcp + 1
  for (const l of lcp) histogram[l + 1]!++;
  let t = 0;
  let groups = 1 + histogram[0]!;
  while (t < 128 && groups + histogram[t + 1]! <= maxSubnets) {
    groups += histogram[t + 1]!;
    t++;
  }
  const cut = new Uint8Array(lcp.length);
  for (let i = 0; i < lcp.length; i++) if (lcp[i]! < t) cut[i] = 1;

  // Spend the remaining budget: splitting a run at all its lcp == t boundaries gives networks that
  // stay disjoint; splitting only some of them would not.
  let budget = maxSubnets - groups;
  if (budget > 0) {
    const candidates: Array<{ boundaries: number[]; gain: bigint }> = [];
    forEachRun(cut, n, (first, last) => {
      const boundaries: number[] = [];
      for (let i = first; i < last; i++) if (lcp[i] === t) boundaries.push(i);
      if (boundaries.length === 0) return;
      let after = 0n;
      let start = first;
      for (const b of [...boundaries, last]) {
        after += coverSize(start, b);
        start = b + 1;
      }
      candidates.push({ boundaries, gain: coverSize(first, last) - after });
    });
    candidates.sort((a, b) => (a.gain === b.gain ? 0 : a.gain > b.gain ? -1 : 1));
    for (const c of candidates) {
      if (c.boundaries.length > budget) continue;
      budget -= c.boundaries.length;
      for (const i of c.boundaries) cut[i] = 1;
    }
  }

  const out: Cidr[] = [];
  forEachRun(cut, n, (first, last) => {
    if (last < n4) {
      const prefix = first === last ? 32 : Math.clz32((v4[first]! ^ v4[last]!) >>> 0);
      out.push(makeCidr(4, BigInt(v4[first]!), prefix));
    } else {
      const a = v6[first - n4]!;
      out.push(makeCidr(6, a, 128 - bitLength(a ^ v6[last - n4]!)));
    }
  });
  return out;

  /** Size of the network covering elements first..last, on the 128-bit scale. */
  function coverSize(first: number, last: number): bigint {
    const hostBits =
      last < n4
        ? 4 * (32 - Math.clz32((v4[first]! ^ v4[last]!) >>> 0))
        : bitLength(v6[first - n4]! ^ v6[last - n4]!);
    return 1n << BigInt(hostBits);
  }
}

function forEachRun(cut: Uint8Array, n: number, visit: (first: number, last: number) => void): void {
  let first = 0;
  for (let i = 0; i < n - 1; i++) {
    if (cut[i] === 1) {
      visit(first, i);
      first = i + 1;
    }
  }
  visit(first, n - 1);
}

/** Sorted distinct IPv4 (as uint32) and IPv6 (as bigint) addresses. */
function collect(ips: Iterable<IpInput>): { v4: Uint32Array; v6: bigint[] } {
  let v4 = new Uint32Array(1024);
  let n4 = 0;
  const v6: bigint[] = [];
  const scratch = new Uint8Array(16);
  const push4 = (value: number) => {
    if (n4 === v4.length) {
      const grown = new Uint32Array(v4.length * 2);
      grown.set(v4);
      v4 = grown;
    }
    v4[n4++] = value;
  };
  for (const ip of ips) {
    let bytes: Uint8Array;
    if (typeof ip === 'string') {
      bytes = parseIpInto(ip, scratch, 'IP address') === 4 ? scratch.subarray(0, 4) : scratch;
    } else if (ip instanceof Uint8Array) {
      if (ip.length !== 4 && ip.length !== 16) {
        throw new CidrError('IP address', `<${ip.length} bytes>`, 'expected 4 (IPv4) or 16 (IPv6) bytes');
      }
      bytes = ip;
    } else {
      if (ip.family === 4) push4(Number(ip.address));
      else if (ip.address >> 32n === 0xffffn) push4(Number(ip.address & 0xffff_ffffn));
      else v6.push(ip.address);
      continue;
    }
    if (bytes.length === 4) {
      push4((((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) as number);
      continue;
    }
    const address = ipFromBytes(bytes).address;
    if (address >> 32n === 0xffffn) push4(Number(address & 0xffff_ffffn));
    else v6.push(address);
  }
  const sorted4 = v4.subarray(0, n4).sort();
  v6.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { v4: dedupe(sorted4), v6: v6.filter((a, i) => i === 0 || a !== v6[i - 1]) };
}

function dedupe(sorted: Uint32Array): Uint32Array {
  let w = 0;
  for (let r = 0; r < sorted.length; r++) {
    if (r === 0 || sorted[r] !== sorted[r - 1]) sorted[w++] = sorted[r]!;
  }
  return sorted.subarray(0, w);
}

/** Number of significant bits of a non-negative bigint (0 for 0). */
function bitLength(x: bigint): number {
  if (x === 0n) return 0;
  const hex = x.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
}
