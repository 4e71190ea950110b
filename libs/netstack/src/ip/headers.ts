// IPv4/IPv6 header layout constants and builders shared by TCP, UDP and ICMP.
import { finish, onesSum } from './checksum.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMP6 = 58;

export type Family = 4 | 6;

export const ipHeaderLength = (family: Family): number => (family === 4 ? 20 : 40);

let ipId = 1;

/** Writes an IP header at off (src/dst are 4 or 16 bytes); returns its length. */
export function writeIpHeader(
  buf: Buffer,
  off: number,
  family: Family,
  src: Uint8Array,
  dst: Uint8Array,
  proto: number,
  payloadLen: number,
): number {
  if (family === 4) {
    buf[off] = 0x45;
    buf[off + 1] = 0;
    buf.writeUInt16BE(20 + payloadLen, off + 2);
    ipId = (ipId + 1) & 0xffff;
    buf.writeUInt16BE(ipId, off + 4);
    buf.writeUInt16BE(0x4000, off + 6); // DF
    buf[off + 8] = 64;
    buf[off + 9] = proto;
    buf[off + 10] = 0;
    buf[off + 11] = 0;
    buf.set(src, off + 12);
    buf.set(dst, off + 16);
    buf.writeUInt16BE(finish(onesSum(buf, off, 20)), off + 10);
    return 20;
  }
  buf.writeUInt32BE(0x60000000, off);
  buf.writeUInt16BE(payloadLen, off + 4);
  buf[off + 6] = proto;
  buf[off + 7] = 64;
  buf.set(src, off + 8);
  buf.set(dst, off + 24);
  return 40;
}

/** Address offsets inside an IP header. */
export const srcOffset = (family: Family): number => (family === 4 ? 12 : 8);
export const dstOffset = (family: Family): number => (family === 4 ? 16 : 24);

export function formatAddress(buf: Uint8Array, off: number, family: Family): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((buf[off + i]! << 8) | buf[off + i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function sameAddress(buf: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let i = 0; i < addr.length; i++) if (buf[off + i] !== addr[i]) return false;
  return true;
}
