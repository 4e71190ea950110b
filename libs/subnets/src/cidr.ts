// The Cidr value type: family + network address (bigint, host bits always zero) + prefix length.
// bigint keeps the set maths (covers, subtract, prune) short and obviously correct; the hot path
// (coveringCidrs) works on bytes and only builds the few resulting Cidrs.
import { CidrError } from './errors.js';
import { familyBits, formatIp, ipFromBytes, ipToBytes, isLoopbackIp, parseIpInto } from './ip.js';
import type { IpAddress, IpFamily } from './ip.js';

declare const validCidr: unique symbol;

/**
 * An IPv4 or IPv6 network. Only built by this library (parseCidr, makeCidr, cidrFromIpNet...), so the
 * host bits of `address` are always zero and `prefix` is within 0..32 or 0..128.
 */
export interface Cidr extends IpAddress {
  readonly prefix: number;
  readonly [validCidr]: true;
}

/** The rpc IPNet shape: 4 or 16 address bytes and a prefix length. */
export interface IpNet {
  ip: Uint8Array;
  mask: number;
}

/**
 * Builds a Cidr, clearing host bits.
 * @throws CidrError when the prefix or address is out of range for the family.
 */
export function makeCidr(family: IpFamily, address: bigint, prefix: number): Cidr {
  const bits = familyBits(family);
  const what = () => `${family === 4 ? 'IPv4' : 'IPv6'} ${address}/${prefix}`;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new CidrError(
      'CIDR',
      what(),
      `prefix length ${prefix} is out of range for IPv${family} (0-${bits})`,
    );
  }
  if (address < 0n || address >> BigInt(bits) !== 0n) {
    throw new CidrError('CIDR', what(), `address does not fit in ${bits} bits`);
  }
  return { family, address: address & ~hostMask(family, prefix), prefix } as Cidr;
}

/** The single-address network of an IP: /32 or /128. */
export function cidrOfIp(ip: IpAddress): Cidr {
  return makeCidr(ip.family, ip.address, familyBits(ip.family));
}

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses `198.18.0.0/16`, `2001:db8::/32`, or a plain address (which becomes /32 or /128).
 * Host bits are cleared: `198.18.1.2/16` gives 198.18.0.0/16.
 * @throws CidrError quoting the input and saying what is wrong.
 */
export function parseCidr(s: string): Cidr {
  if (typeof s !== 'string') throw new CidrError('CIDR', s, `expected a string, got ${typeof s}`);
  const slash = s.indexOf('/');
  const ipPart = slash === -1 ? s : s.slice(0, slash);
  const bytes = new Uint8Array(16);
  const family = parseIpInto(ipPart, bytes, 'CIDR', s);
  const ip = ipFromBytes(family === 4 ? bytes.subarray(0, 4) : bytes);
  const bits = familyBits(family);
  if (slash === -1) return makeCidr(family, ip.address, bits);

  const prefixText = s.slice(slash + 1);
  const fail = (reason: string): never => {
    throw new CidrError('CIDR', s, reason);
  };
  if (prefixText.includes('/')) fail('more than one "/"');
  if (prefixText === '') fail('missing prefix length after "/"');
  if (!PREFIX.test(prefixText)) {
    fail(
      /^-/.test(prefixText)
        ? 'prefix length must not be negative'
        : /^0[0-9]/.test(prefixText)
          ? 'leading zeros are not allowed in the prefix length'
          : `prefix length ${JSON.stringify(prefixText)} is not a decimal number`,
    );
  }
  const prefix = Number(prefixText);
  if (prefix > bits) fail(`prefix length ${prefix} is out of range for IPv${family} (0-${bits})`);
  return makeCidr(family, ip.address, prefix);
}

/** `198.18.0.0/16`, `2001:db8::/32` (RFC 5952 address text). */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}

/** Mask of the host bits (the bits after the prefix). */
export function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(familyBits(family) - prefix)) - 1n;
}

/** The first (network) address. */
export function firstIp(c: Cidr): IpAddress {
  return { family: c.family, address: c.address };
}

/** The last address (all host bits set). */
export function lastIp(c: Cidr): IpAddress {
  return { family: c.family, address: c.address | hostMask(c.family, c.prefix) };
}

/** Number of addresses in the network (2^(bits-prefix)). */
export function size(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

/** True when `ip` lies inside `c` (same family). */
export function contains(c: Cidr, ip: IpAddress): boolean {
  if (c.family !== ip.family) return false;
  const hostBits = BigInt(familyBits(c.family) - c.prefix);
  return ip.address >> hostBits === c.address >> hostBits;
}

/** True when every address of `b` lies inside `a` (so `covers(a, a)` is true). */
export function covers(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix <= b.prefix && contains(a, b);
}

/** True when `a` and `b` share at least one address (networks are either nested or disjoint). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return covers(a, b) || covers(b, a);
}

export function equal(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && a.address === b.address;
}

/** Orders IPv4 before IPv6, then by address, then wider (shorter prefix) first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  return a.prefix - b.prefix;
}

/**
 * True for networks inside loopback space: 127.0.0.0/8 (or narrower) and ::1/128, or a plain
 * loopback address.
 */
export function isLoopback(x: Cidr | IpAddress): boolean {
  if (!isLoopbackIp(x)) return false;
  return !('prefix' in x) || x.prefix >= (x.family === 4 ? 8 : 128);
}

/**
 * Converts an rpc IPNet ({ip: 4 or 16 bytes, mask: prefix length}). Host bits are cleared.
 * @throws CidrError for a wrong byte length or prefix.
 */
export function cidrFromIpNet(net: IpNet): Cidr {
  if (!(net.ip instanceof Uint8Array) || (net.ip.length !== 4 && net.ip.length !== 16)) {
    const len = net.ip instanceof Uint8Array ? net.ip.length : typeof net.ip;
    throw new CidrError(
      'IPNet',
      `<${len} bytes>/${net.mask}`,
      'expected 4 (IPv4) or 16 (IPv6) address bytes',
    );
  }
  const ip = ipFromBytes(net.ip);
  const bits = familyBits(ip.family);
  if (!Number.isInteger(net.mask) || net.mask < 0 || net.mask > bits) {
    throw new CidrError(
      'IPNet',
      `${formatIp(ip)}/${net.mask}`,
      `prefix length ${net.mask} is out of range for IPv${ip.family} (0-${bits})`,
    );
  }
  return makeCidr(ip.family, ip.address, net.mask);
}

/** The rpc IPNet of a Cidr: a fresh 4 or 16 byte Buffer and the prefix length. */
export function cidrToIpNet(c: Cidr): { ip: Buffer; mask: number } {
  return { ip: ipToBytes(c), mask: c.prefix };
}
