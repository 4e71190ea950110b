import fc from 'fast-check';
import { cidr, intervalCovers, intervalOverlaps, inside, ip, first, last } from '../test/arbitraries.js';
import {
  cidrFromIpNet,
  cidrOfIp,
  cidrToIpNet,
  compareCidrs,
  contains,
  covers,
  equal,
  formatCidr,
  isLoopback,
  lastIp,
  makeCidr,
  overlaps,
  parseCidr,
  size,
} from './cidr.js';
import { CidrError } from './errors.js';
import { parseIp } from './ip.js';

const c = parseCidr;

describe('parseCidr', () => {
  it.each([
    ['198.18.0.0/16', '198.18.0.0/16'],
    ['198.18.1.2/16', '198.18.0.0/16'], // host bits cleared
    ['198.18.1.2/31', '198.18.1.2/31'],
    ['198.18.1.3/31', '198.18.1.2/31'],
    ['198.18.1.2', '198.18.1.2/32'], // plain IP
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/0', '0.0.0.0/0'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:db8:ffff::1/32', '2001:db8::/32'],
    ['2001:DB8::1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::/128', '::/128'],
    ['2001:db8::8000/113', '2001:db8::8000/113'],
    ['::ffff:198.18.0.1/120', '::ffff:198.18.0.0/120'],
  ])('parses %s as %s', (s, want) => {
    expect(formatCidr(parseCidr(s))).toBe(want);
  });

  it('keeps the family and prefix', () => {
    expect(parseCidr('198.18.0.0/15')).toEqual({ family: 4, address: 0xc6120000n, prefix: 15 });
    expect(parseCidr('2001:db8::/32')).toEqual({ family: 6, address: 0x20010db8n << 96n, prefix: 32 });
  });

  it.each([
    ['', 'empty address'],
    [' ', 'whitespace is not allowed'],
    ['\t198.18.0.0/16', 'whitespace is not allowed'],
    ['198.18.0.0 /16', 'whitespace is not allowed'],
    ['198.18.0.0/ 16', 'is not a decimal number'],
    ['198.18.0.0/16 ', 'is not a decimal number'],
    ['1.2.3.4/33', 'prefix length 33 is out of range for IPv4 (0-32)'],
    ['1.2.3.4/100', 'prefix length 100 is out of range for IPv4 (0-32)'],
    ['::/129', 'prefix length 129 is out of range for IPv6 (0-128)'],
    ['::/1000', 'is not a decimal number'],
    ['1.2.3', 'expected 4 IPv4 octets, got 3'],
    ['1.2.3/24', 'expected 4 IPv4 octets, got 3'],
    ['a.b.c.d/8', 'unexpected character "a"'],
    ['01.2.3.4', 'leading zeros are not allowed in IPv4 octets'],
    ['1.2.3.04/32', 'leading zeros are not allowed in IPv4 octets'],
    ['1.2.3.4/08', 'leading zeros are not allowed in the prefix length'],
    ['fe80::1%eth0', 'zone ids'],
    ['fe80::1%eth0/64', 'zone ids'],
    ['1.2.3.4/-1', 'prefix length must not be negative'],
    ['1.2.3.4/', 'missing prefix length after "/"'],
    ['/24', 'empty address'],
    ['/', 'empty address'],
    ['1.2.3.4/8/8', 'more than one "/"'],
    ['1.2.3.4//8', 'more than one "/"'],
    ['1.2.3.4/8/', 'more than one "/"'],
    ['1.2.3.4/+8', 'is not a decimal number'],
    ['1.2.3.4/8.0', 'is not a decimal number'],
    ['1.2.3.4/0x8', 'is not a decimal number'],
    ['1.2.3.4/1e1', 'is not a decimal number'],
    ['256.1.1.1/8', 'larger than 255'],
    ['2001:db8::/32x', 'is not a decimal number'],
    ['2001:db8:::/32', '"::" may appear only once'],
    ['2001:db8::g/32', 'unexpected character "g"'],
  ])('rejects %j: %s', (s, reason) => {
    let error: unknown;
    try {
      parseCidr(s);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CidrError);
    expect((error as CidrError).message).toBe(
      `invalid CIDR ${JSON.stringify(s)}: ${(error as CidrError).reason}`,
    );
    expect((error as CidrError).input).toBe(s);
    expect((error as CidrError).reason).toContain(reason);
  });

  it('rejects non-strings', () => {
    expect(() => parseCidr(undefined as unknown as string)).toThrow(
      'invalid CIDR undefined: expected a string',
    );
  });
});

describe('makeCidr', () => {
  it('clears host bits and validates ranges', () => {
    expect(formatCidr(makeCidr(4, 0xc6120101n, 16))).toBe('198.18.0.0/16');
    expect(() => makeCidr(4, 0n, 33)).toThrow('prefix length 33 is out of range for IPv4 (0-32)');
    expect(() => makeCidr(4, 1n << 32n, 8)).toThrow('address does not fit in 32 bits');
    expect(() => makeCidr(6, -1n, 8)).toThrow('address does not fit in 128 bits');
    expect(() => makeCidr(6, 0n, 1.5)).toThrow('prefix length 1.5 is out of range');
  });
});

describe('contains / covers / overlaps / equal (table)', () => {
  it.each([
    ['198.18.0.0/16', '198.18.255.255', true],
    ['198.18.0.0/16', '198.19.0.0', false],
    ['198.18.0.0/16', '::ffff:198.18.0.1', false], // families never mix
    ['0.0.0.0/0', '255.255.255.255', true],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::', false],
    ['::/0', '::', true],
    ['198.18.0.1/32', '198.18.0.1', true],
  ])('contains(%s, %s) = %s', (net, addr, want) => {
    expect(contains(c(net), parseIp(addr))).toBe(want);
  });

  it.each([
    ['198.18.0.0/15', '198.19.0.0/16', true, true],
    ['198.19.0.0/16', '198.18.0.0/15', false, true],
    ['198.18.0.0/16', '198.18.0.0/16', true, true],
    ['198.18.0.0/16', '198.19.0.0/16', false, false],
    ['0.0.0.0/0', '198.18.0.0/16', true, true],
    ['0.0.0.0/0', '::/0', false, false],
    ['2001:db8::/32', '2001:db8:1::/48', true, true],
    ['2001:db8:1::/48', '2001:db8:2::/48', false, false],
  ])('covers(%s, %s) = %s, overlaps = %s', (a, b, wantCovers, wantOverlaps) => {
    expect(covers(c(a), c(b))).toBe(wantCovers);
    expect(overlaps(c(a), c(b))).toBe(wantOverlaps);
    expect(overlaps(c(b), c(a))).toBe(wantOverlaps);
  });

  it('equal', () => {
    expect(equal(c('198.18.1.0/16'), c('198.18.0.0/16'))).toBe(true);
    expect(equal(c('198.18.0.0/16'), c('198.18.0.0/17'))).toBe(false);
    expect(equal(c('0.0.0.0/0'), c('::/0'))).toBe(false);
  });
});

describe('helpers', () => {
  it('size, lastIp, cidrOfIp, compareCidrs', () => {
    expect(size(c('198.18.0.0/16'))).toBe(65536n);
    expect(size(c('::/0'))).toBe(1n << 128n);
    expect(lastIp(c('198.18.0.0/15'))).toEqual(parseIp('198.19.255.255'));
    expect(formatCidr(cidrOfIp(parseIp('2001:db8::1')))).toBe('2001:db8::1/128');
    const sorted = ['2001:db8::/32', '198.18.0.0/24', '198.18.0.0/16', '0.0.0.0/0'].map(c).sort(compareCidrs);
    expect(sorted.map(formatCidr)).toEqual(['0.0.0.0/0', '198.18.0.0/16', '198.18.0.0/24', '2001:db8::/32']);
  });

  it.each([
    ['127.0.0.0/8', true],
    ['127.0.0.1', true],
    ['127.1.0.0/16', true],
    ['126.0.0.0/7', false], // wider than loopback
    ['0.0.0.0/0', false],
    ['::1', true],
    ['::/127', false],
    ['198.18.0.1', false],
  ])('isLoopback(%s) = %s', (s, want) => {
    expect(isLoopback(c(s))).toBe(want);
  });

  it('isLoopback on plain addresses', () => {
    expect(isLoopback(parseIp('127.0.0.1'))).toBe(true);
    expect(isLoopback(parseIp('::1'))).toBe(true);
  });
});

describe('rpc IPNet', () => {
  it('round trips 4 and 16 byte addresses', () => {
    expect(cidrToIpNet(c('198.18.0.0/15'))).toEqual({ ip: Buffer.from([198, 18, 0, 0]), mask: 15 });
    expect(formatCidr(cidrFromIpNet({ ip: Buffer.from([198, 18, 7, 7]), mask: 16 }))).toBe('198.18.0.0/16');
    const v6 = cidrToIpNet(c('2001:db8::/32'));
    expect(v6.ip).toHaveLength(16);
    expect(formatCidr(cidrFromIpNet(v6))).toBe('2001:db8::/32');
  });

  it.each([
    [{ ip: new Uint8Array(5), mask: 8 }, 'expected 4 (IPv4) or 16 (IPv6) address bytes'],
    [{ ip: new Uint8Array(0), mask: 0 }, 'expected 4 (IPv4) or 16 (IPv6) address bytes'],
    [
      { ip: Buffer.from([198, 18, 0, 0]), mask: 33 },
      'invalid IPNet "198.18.0.0/33": prefix length 33 is out of range',
    ],
    [{ ip: new Uint8Array(16), mask: -1 }, 'prefix length -1 is out of range for IPv6'],
  ])('rejects bad IPNet %#', (net, reason) => {
    expect(() => cidrFromIpNet(net)).toThrow(CidrError);
    expect(() => cidrFromIpNet(net)).toThrow(reason);
  });
});

describe('properties against interval arithmetic', () => {
  it('contains', () => {
    fc.assert(
      fc.property(cidr(), ip(), (n, a) => contains(n, a) === inside(n, a)),
      { numRuns: 3000 },
    );
  });

  it('covers and overlaps', () => {
    fc.assert(
      fc.property(cidr(), cidr(), (a, b) => {
        expect(covers(a, b)).toBe(intervalCovers(a, b));
        expect(overlaps(a, b)).toBe(intervalOverlaps(a, b));
        expect(equal(a, b)).toBe(a.family === b.family && first(a) === first(b) && last(a) === last(b));
      }),
      { numRuns: 3000 },
    );
  });

  it('the generators do produce overlapping and disjoint pairs', () => {
    const pairs = fc.sample(fc.tuple(cidr(), cidr()), 2000);
    expect(pairs.filter(([a, b]) => intervalOverlaps(a, b) && !equal(a, b)).length).toBeGreaterThan(100);
    expect(pairs.filter(([a, b]) => a.family === b.family && !intervalOverlaps(a, b)).length).toBeGreaterThan(
      100,
    );
  });

  it('format/parse and IPNet round trips', () => {
    fc.assert(
      fc.property(cidr(), (n) => {
        expect(parseCidr(formatCidr(n))).toEqual(n);
        expect(cidrFromIpNet(cidrToIpNet(n))).toEqual(n);
      }),
    );
  });
});
