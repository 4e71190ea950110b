// coveringCidrs: the Go original's pod-subnet heuristic (telepresence pkg/subnet CoveringCIDRs).
import { makeCidr } from './cidr.js';
import type { Cidr } from './cidr.js';
import { CidrError } from './errors.js';
import { parseIpInto } from './ip.js';
import type { IpAddress } from './ip.js';

/** An address as text, as a parsed IpAddress, or as 4/16 raw bytes (rpc style). */
export type IpInput = string | IpAddress | Uint8Array;

/**
 * Networks that cover all `ips`, as the Go original computes them:
 * - IPv4: one network per /16 that holds any IP, narrowed by the leading bits common to all third
 *   octets in that /16, so each result is /16 to /24 (the last octet is never split).
 * - IPv6: one network per /64, narrowed byte by byte over bytes 8..14 while a byte is fully common,
 *   plus the common leading bits of the first byte that is not (/64 to /120).
 * IPv4-mapped IPv6 addresses count as IPv4 (as Go's `ip.To4()` does). Sorted: IPv4 first, by address.
 * Runs in O(n) on bytes; the min and max of a byte set share exactly the set's common leading bits,
 * so a (min, max) pair per position replaces the original's 256-bit sets.
 * @throws CidrError on a malformed address.
 */
export function coveringCidrs(ips: Iterable<IpInput>): Cidr[] {
  // Per /16 bucket (first two octets): seen flag, min and max third octet.
  const v4Seen = new Uint8Array(65536);
  const v4Min = new Uint8Array(65536);
  const v4Max = new Uint8Array(65536);
  const v4Keys: number[] = [];
  // /64 key (16 hex digits) -> [min of bytes 8..14, max of bytes 8..14]
  const v6 = new Map<string, Uint8Array>();
  const scratch = new Uint8Array(16);
  const view = new DataView(scratch.buffer);

  for (const ip of ips) {
    let b: Uint8Array;
    let family: 4 | 6;
    if (typeof ip === 'string') {
      family = parseIpInto(ip, scratch, 'IP address');
      b = scratch;
    } else if (ip instanceof Uint8Array) {
      if (ip.length !== 4 && ip.length !== 16) {
        throw new CidrError('IP address', `<${ip.length} bytes>`, 'expected 4 (IPv4) or 16 (IPv6) bytes');
      }
      family = ip.length === 4 ? 4 : 6;
      b = ip;
    } else {
      family = ip.family;
      b = scratch;
      if (family === 4) view.setUint32(0, Number(ip.address));
      else {
        view.setBigUint64(0, ip.address >> 64n);
        view.setBigUint64(8, ip.address & 0xffff_ffff_ffff_ffffn);
      }
    }
    if (family === 6 && isV4Mapped(b)) {
      b = b.subarray(12, 16);
      family = 4;
    }
    if (family === 4) {
      const key = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
      const third = b[2] ?? 0;
      if (v4Seen[key] === 0) {
        v4Seen[key] = 1;
        v4Min[key] = third;
        v4Max[key] = third;
        v4Keys.push(key);
      } else if (third < (v4Min[key] ?? 0)) {
        v4Min[key] = third;
      } else if (third > (v4Max[key] ?? 0)) {
        v4Max[key] = third;
      }
    } else {
      let key = '';
      for (let i = 0; i < 8; i++) key += HEX[b[i] ?? 0];
      let mm = v6.get(key);
      if (mm === undefined) {
        mm = new Uint8Array(14);
        for (let i = 0; i < 7; i++) mm[i] = mm[i + 7] = b[8 + i] ?? 0;
        v6.set(key, mm);
      } else {
        for (let i = 0; i < 7; i++) {
          const v = b[8 + i] ?? 0;
          if (v < (mm[i] ?? 0)) mm[i] = v;
          if (v > (mm[i + 7] ?? 0)) mm[i + 7] = v;
        }
      }
    }
  }

  const out: Cidr[] = [];
  v4Keys.sort((a, b) => a - b);
  for (const key of v4Keys) {
    const min = v4Min[key] ?? 0;
    const common = commonLeadingBits(min, v4Max[key] ?? 0);
    const third = min & (0xff00 >> common);
    out.push(makeCidr(4, BigInt(((key << 16) | (third << 8)) >>> 0), 16 + common));
  }
  const v6Out: Cidr[] = [];
  for (const [key, mm] of v6) {
    let address = BigInt(`0x${key}`) << 64n;
    let prefix = 64;
    for (let i = 0; i < 7; i++) {
      const min = mm[i] ?? 0;
      const common = commonLeadingBits(min, mm[i + 7] ?? 0);
      address |= BigInt(min & (0xff00 >> common)) << BigInt(8 * (7 - i));
      prefix += common;
      if (common < 8) break;
    }
    v6Out.push(makeCidr(6, address, prefix));
  }
  v6Out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return out.concat(v6Out);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Leading bits shared by two bytes (8 when equal). */
function commonLeadingBits(a: number, b: number): number {
  return Math.clz32(a ^ b) - 24;
}
