// Minimal CIDR maths on bigints for the routed-set computation.
// TODO(#8): replace with @telepresence/subnets once that branch lands (one concern, one place).
import net from 'node:net';

export interface Cidr {
  readonly family: 4 | 6;
  /** The network address (host bits cleared) as an unsigned integer. */
  readonly base: bigint;
  readonly prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

export function ipToBigint(ip: string): { family: 4 | 6; value: bigint } {
  const family = net.isIP(ip);
  if (family === 4) {
    const value = ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family, value };
  }
  if (family === 6) {
    const parsed = new net.SocketAddress({ address: ip, family: 'ipv6' }).address;
    const [head = '', tail = ''] = parsed.split('::');
    const headParts = head === '' ? [] : head.split(':');
    const tailParts = tail === '' ? [] : tail.split(':');
    const parts = parsed.includes('::')
      ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts]
      : headParts;
    const value = parts.reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
    return { family, value };
  }
  throw new Error(`invalid IP address "${ip}"`);
}

export function bigintToIp(family: 4 | 6, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function hostMask(family: 4 | 6, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

export function makeCidr(family: 4 | 6, value: bigint, prefix: number): Cidr {
  return { family, base: value & ~hostMask(family, prefix), prefix };
}

/** Parses "198.18.0.0/16", "2001:db8::/32" or a bare address (a /32 or /128). Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const [ip = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) throw new Error(`invalid CIDR "${text}"`);
  const { family, value } = ipToBigint(ip);
  const prefix = prefixText === undefined ? BITS[family] : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? '0') || !Number.isInteger(prefix) || prefix < 0 || prefix > BITS[family]) {
    throw new Error(`invalid CIDR "${text}": prefix must be 0-${BITS[family]}`);
  }
  return makeCidr(family, value, prefix);
}

export function formatCidr(c: Cidr): string {
  return `${bigintToIp(c.family, c.base)}/${c.prefix}`;
}

export function lastAddress(c: Cidr): bigint {
  return c.base | hostMask(c.family, c.prefix);
}

/** True when a contains all of b. */
export function covers(a: Cidr, b: Cidr): boolean {
  return (
    a.family === b.family && a.prefix <= b.prefix && makeCidr(a.family, b.base, a.prefix).base === a.base
  );
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return covers(a, b) || covers(b, a);
}

export function containsIp(c: Cidr, ip: string): boolean {
  const { family, value } = ipToBigint(ip);
  return family === c.family && makeCidr(family, value, c.prefix).base === c.base;
}

export function equalCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base === b.base && a.prefix === b.prefix;
}

/** Sorted (IPv4 first, then by address, then wider first), duplicates and covered subnets removed. */
export function pruneCovered(list: readonly Cidr[]): Cidr[] {
  const sorted = [...list].sort(compareCidr);
  const out: Cidr[] = [];
  for (const c of sorted) {
    if (!out.some((kept) => covers(kept, c))) out.push(c);
  }
  return out;
}

export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

/** a minus b, as the fewest CIDRs. */
export function subtract(a: Cidr, b: Cidr): Cidr[] {
  if (!overlaps(a, b)) return [a];
  if (covers(b, a)) return [];
  // b is strictly inside a: split a in halves and recurse into the half holding b.
  const out: Cidr[] = [];
  let current = a;
  while (current.prefix < b.prefix) {
    const low = makeCidr(current.family, current.base, current.prefix + 1);
    const high = makeCidr(
      current.family,
      current.base | (1n << BigInt(BITS[current.family] - current.prefix - 1)),
      current.prefix + 1,
    );
    if (covers(low, b)) {
      out.push(high);
      current = low;
    } else {
      out.push(low);
      current = high;
    }
  }
  return out.sort(compareCidr);
}

/** Every subnet of list minus every subnet of remove. */
export function subtractAll(list: readonly Cidr[], remove: readonly Cidr[]): Cidr[] {
  let current = [...list];
  for (const r of remove) current = current.flatMap((c) => subtract(c, r));
  return current;
}
