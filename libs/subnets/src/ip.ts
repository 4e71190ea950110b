// IP addresses: a family plus the address as an unsigned bigint (32 or 128 bits). Parsing is hand-written
// and strict (no leading zeros, no zone ids, no inet_aton forms like 127.1 or 0x7f.0.0.1) because it sits
// on the hot path of coveringCidrs; ip.spec.ts checks it against ip-num, which accepts the same strings
// except zone ids.
import { CidrError } from './errors.js';

export type IpFamily = 4 | 6;

/** An IPv4 or IPv6 address. `address` is the unsigned value (0..2^32-1 or 0..2^128-1). */
export interface IpAddress {
  readonly family: IpFamily;
  readonly address: bigint;
}

/** Number of address bits of a family: 32 or 128. */
export function familyBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/**
 * Parses a plain IPv4 (dotted quad) or IPv6 address without a prefix length.
 * @throws CidrError when the string is not exactly one well-formed address.
 */
export function parseIp(s: string): IpAddress {
  const bytes = new Uint8Array(16);
  const family = parseIpInto(s, bytes, 'IP address');
  return ipFromBytes(family === 4 ? bytes.subarray(0, 4) : bytes);
}

/** RFC 5952 text: `198.18.0.1`, `2001:db8::1`, `::ffff:198.18.0.1`. */
export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatIpv4(Number(ip.address)) : formatIpv6(ipToBytes(ip));
}

/** The address as a 4 or 16 byte Buffer (network order). */
export function ipToBytes(ip: IpAddress): Buffer {
  if (ip.family === 4) {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(Number(ip.address));
    return out;
  }
  const out = Buffer.alloc(16);
  out.writeBigUInt64BE(ip.address >> 64n, 0);
  out.writeBigUInt64BE(ip.address & 0xffff_ffff_ffff_ffffn, 8);
  return out;
}

/**
 * The address held in 4 (IPv4) or 16 (IPv6) bytes. A 16 byte IPv4-mapped address stays IPv6.
 * @throws CidrError for any other length.
 */
export function ipFromBytes(bytes: Uint8Array): IpAddress {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length === 4) return { family: 4, address: BigInt(view.getUint32(0)) };
  if (bytes.length === 16) {
    return { family: 6, address: (view.getBigUint64(0) << 64n) | view.getBigUint64(8) };
  }
  throw new CidrError('IP address', `<${bytes.length} bytes>`, 'expected 4 (IPv4) or 16 (IPv6) bytes');
}

/**
 * An address in text as its 4 (IPv4) or 16 (IPv6) network-order bytes: the one text-to-bytes conversion
 * of the project (gRPC fields, connection ids, D-Bus). `::ffff:198.18.0.1` stays 16 bytes.
 * @throws CidrError when the text is not exactly one well-formed address.
 */
export function ipTextToBytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  return parseIpInto(text, out, 'IP address') === 4 ? out.subarray(0, 4) : out;
}

/**
 * RFC 5952 text of 4 or 16 address bytes (`::ffff:198.18.0.1` for IPv4-mapped ones).
 * @throws CidrError for any other length.
 */
export function ipTextFromBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) return formatIpv6(bytes);
  throw new CidrError('IP address', `<${bytes.length} bytes>`, 'expected 4 (IPv4) or 16 (IPv6) bytes');
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopbackIp(ip: IpAddress): boolean {
  return ip.family === 4 ? ip.address >> 24n === 127n : ip.address === 1n;
}

/**
 * Parses `s` into `out` (bytes 0..3 for IPv4, 0..15 for IPv6) and returns the family. Internal hot path
 * shared by parseIp, parseCidr and coveringCidrs: it allocates nothing on success.
 * @internal
 */
export function parseIpInto(s: string, out: Uint8Array, kind: 'IP address' | 'CIDR', input = s): IpFamily {
  if (typeof s !== 'string') throw new CidrError(kind, input, `expected a string, got ${typeof s}`);
  if (s.length === 0) throw new CidrError(kind, input, 'empty address');
  if (s.length > 45) throw new CidrError(kind, input, 'too long to be an IP address');
  const fail = (reason: string): never => {
    throw new CidrError(kind, input, reason);
  };
  if (s.includes(':')) {
    if (s.includes('%')) fail('IPv6 zone ids ("%" suffix) are not supported');
    parseIpv6(s, out, fail);
    return 6;
  }
  parseIpv4(s, 0, s.length, out, 0, fail);
  return 4;
}

type Fail = (reason: string) => never;

function describeChar(s: string, i: number): string {
  const c = s[i] ?? '';
  return /\s/.test(c) ? 'whitespace is not allowed' : `unexpected character ${JSON.stringify(c)}`;
}

function parseIpv4(s: string, start: number, end: number, out: Uint8Array, off: number, fail: Fail): void {
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) fail('leading zeros are not allowed in IPv4 octets');
      value = value * 10 + (c - 48);
      if (value > 255) fail(`IPv4 octet ${s.slice(i - digits, i + 1)}... is larger than 255`);
      digits++;
    } else if (c === 46) {
      if (digits === 0) fail('empty IPv4 octet');
      if (octet === 3) fail('too many IPv4 octets (expected 4)');
      out[off + octet++] = value;
      value = 0;
      digits = 0;
    } else {
      fail(describeChar(s, i));
    }
  }
  if (digits === 0) fail('empty IPv4 octet');
  if (octet !== 3) fail(`expected 4 IPv4 octets, got ${octet + 1}`);
  out[off + 3] = value;
}

// Scratch space for parsed groups; parsing is synchronous, so one buffer is enough. Sized for the
// longest accepted input (45 characters) so that counts are checked once, at the end.
const groups = new Uint16Array(32);

/** Single pass over the characters: no split, no regex, no allocation on success. */
function parseIpv6(s: string, out: Uint8Array, fail: Fail): void {
  const len = s.length;
  let n = 0;
  let gapAt = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) fail('empty group (a single ":" at the start or end, or ":::")');
    gapAt = 0;
    i = 2;
    if (s.charCodeAt(2) === 58) fail('"::" may appear only once');
  }
  while (i < len) {
    let j = i;
    let value = 0;
    for (; j < len && j - i < 5; j++) {
      const d = hexValue(s.charCodeAt(j));
      if (d < 0) break;
      value = value * 16 + d;
    }
    if (j < len && s.charCodeAt(j) === 46) {
      if (s.indexOf(':', j) !== -1) fail('an embedded IPv4 address may only be the last part');
      parseIpv4(s, i, len, out, 0, fail);
      groups[n++] = ((out[0] ?? 0) << 8) | (out[1] ?? 0);
      groups[n++] = ((out[2] ?? 0) << 8) | (out[3] ?? 0);
      break;
    }
    if (j === i) fail(describeChar(s, j));
    if (j - i > 4) fail(`group "${s.slice(i, j)}..." has more than 4 hex digits`);
    groups[n++] = value;
    if (j === len) break;
    if (s.charCodeAt(j) !== 58) fail(describeChar(s, j));
    if (s.charCodeAt(j + 1) === 58) {
      if (gapAt !== -1 || s.charCodeAt(j + 2) === 58) fail('"::" may appear only once');
      gapAt = n;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === len) fail('empty group (a single ":" at the start or end, or ":::")');
    }
  }
  if (gapAt === -1 && n !== 8) fail(`expected 8 groups, got ${n}`);
  if (gapAt !== -1 && n > 7) fail(`too many groups for "::" (${n} plus at least one zero group)`);

  out.fill(0, 0, 16);
  const tailStart = 8 - (n - (gapAt === -1 ? n : gapAt));
  for (let k = 0; k < n; k++) {
    const at = gapAt === -1 || k < gapAt ? k : tailStart + (k - gapAt);
    const w = groups[k] ?? 0;
    out[at * 2] = w >> 8;
    out[at * 2 + 1] = w & 0xff;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function formatIpv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIpv4(((words[6] ?? 0) * 0x10000 + (words[7] ?? 0)) >>> 0)}`;
  }
  // RFC 5952 4.2: "::" replaces the longest run (first on ties) of two or more zero groups.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestAt === -1) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}
