import fc from 'fast-check';
import { inside, ip } from '../test/arbitraries.js';
import { formatCidr, parseCidr } from './cidr.js';
import type { Cidr } from './cidr.js';
import { coveringCidrs } from './covering.js';
import { CidrError } from './errors.js';
import { formatIp, ipToBytes, parseIp } from './ip.js';
import type { IpAddress } from './ip.js';

// Stand-in for the original's testdata/ips.txt (not available): addresses chosen so that the expected
// output is exactly the one TestCoveringCIDRs asserts. Pure parsing fixtures, never used as traffic.
const ORIGINAL_TEST_IPS = [
  // 10.101.0.0/16 bucket: third octets 128..191 share "10" -> /18
  '10.101.128.1',
  '10.101.129.17',
  '10.101.160.3',
  '10.101.191.254',
  // 172.20.0.0/16 bucket: third octets 0 and 255 share nothing -> /16
  '172.20.0.1',
  '172.20.3.9',
  '172.20.255.7',
  // 2001:db8:3333:4444::/64: bytes 8..12 common, byte 13 0x77 vs 0x88 shares no bit -> /104
  '2001:db8:3333:4444:5555:6666:7777:7777',
  '2001:db8:3333:4444:5555:6666:7788:8888',
  '2001:db8:3333:4444:5555:6666:7700:1',
  // 2001:db8:3333:ab32::/64: byte 8 common, byte 9 0x00 vs 0x01 shares 7 bits -> /79
  '2001:db8:3333:ab32::1',
  '2001:db8:3333:ab32:1::1',
  '2001:db8:3333:ab32:0:ffff::',
];

const cover = (ips: string[]) => coveringCidrs(ips).map(formatCidr);

describe('coveringCidrs', () => {
  it("reproduces the original's TestCoveringCIDRs", () => {
    const want = [
      '10.101.128.0/18',
      '172.20.0.0/16',
      '2001:db8:3333:4444:5555:6666:7700::/104',
      '2001:db8:3333:ab32::/79',
    ].map(parseCidr);
    // Order of the input doesn't matter.
    expect(coveringCidrs(ORIGINAL_TEST_IPS)).toEqual(want);
    expect(coveringCidrs([...ORIGINAL_TEST_IPS].reverse())).toEqual(want);
  });

  it.each([
    [[], []],
    [['198.18.0.1'], ['198.18.0.0/24']], // a lone IP still claims its /24 (last octet never split)
    [['198.18.0.1', '198.18.1.1'], ['198.18.0.0/23']], // the reference's 10.244.0.x + 10.244.1.x example
    [['198.18.0.1', '198.18.0.200'], ['198.18.0.0/24']],
    [['198.18.0.1', '198.18.255.1'], ['198.18.0.0/16']],
    [
      ['198.19.0.1', '198.18.0.1'],
      ['198.18.0.0/24', '198.19.0.0/24'],
    ], // one per /16, sorted
    [['198.18.4.1', '198.18.7.1'], ['198.18.4.0/22']],
    [['2001:db8::1'], ['2001:db8::/120']], // at most /120
    [['2001:db8::1', '2001:db8::1:1'], ['2001:db8::/111']],
    [['2001:db8::1', '2001:db8:0:0:8000::1'], ['2001:db8::/64']],
    [
      ['2001:db8::1', '2001:db8:0:1::1'],
      ['2001:db8::/120', '2001:db8:0:1::/120'],
    ],
    [
      ['2001:db8::1', '198.18.0.1'],
      ['198.18.0.0/24', '2001:db8::/120'],
    ], // IPv4 first
    [['::ffff:198.18.0.1', '198.18.1.1'], ['198.18.0.0/23']], // IPv4-mapped counts as IPv4, as Go's To4()
    [['198.18.0.1', '198.18.0.1', '198.18.0.1'], ['198.18.0.0/24']],
  ])('%j -> %j', (ips, want) => {
    expect(cover(ips)).toEqual(want);
  });

  it('accepts parsed addresses and 4/16 byte buffers', () => {
    const parsed = ORIGINAL_TEST_IPS.map(parseIp);
    expect(coveringCidrs(parsed)).toEqual(coveringCidrs(ORIGINAL_TEST_IPS));
    expect(coveringCidrs(parsed.map(ipToBytes))).toEqual(coveringCidrs(ORIGINAL_TEST_IPS));
    expect(() => coveringCidrs([new Uint8Array(3)])).toThrow(CidrError);
  });

  it('throws CidrError naming a malformed address', () => {
    expect(() => coveringCidrs(['198.18.0.1', '198.18.0.01'])).toThrow(
      'invalid IP address "198.18.0.01": leading zeros are not allowed in IPv4 octets',
    );
  });

  it('equals a direct port of the original (256-bit sets per byte) and contains every input', () => {
    fc.assert(
      fc.property(fc.array(ip(), { maxLength: 40 }), fc.boolean(), (ips, asText) => {
        const out = coveringCidrs(asText ? ips.map(formatIp) : ips);
        expect(out).toEqual(reference(ips));
        for (const a of ips) expect(out.filter((c) => inside(c, a))).toHaveLength(1);
      }),
      { numRuns: 1000 },
    );
  });
});

/** The Go algorithm, written for clarity: sets of byte values and a bit-by-bit common prefix. */
function reference(ips: readonly IpAddress[]): Cidr[] {
  const groups = new Map<string, { family: 4 | 6; bytes: Buffer[] }>();
  for (const a of ips) {
    const b = ipToBytes(a);
    const key =
      a.family === 4 ? `4:${b.subarray(0, 2).toString('hex')}` : `6:${b.subarray(0, 8).toString('hex')}`;
    const g = groups.get(key) ?? { family: a.family, bytes: [] };
    g.bytes.push(b);
    groups.set(key, g);
  }
  const out: Cidr[] = [];
  for (const { family, bytes } of groups.values()) {
    const result = Buffer.from(bytes[0]!);
    const positions = family === 4 ? [2] : [8, 9, 10, 11, 12, 13, 14];
    let prefix = family === 4 ? 16 : 64;
    result.fill(0, positions[0]);
    for (const pos of positions) {
      const values = new Set(bytes.map((b) => b[pos]!));
      let common = 0;
      while (common < 8 && new Set([...values].map((v) => v >> (7 - common))).size === 1) common++;
      result[pos] = common === 0 ? 0 : (bytes[0]![pos]! >> (8 - common)) << (8 - common);
      prefix += common;
      if (common < 8) break;
    }
    const hex = result.toString('hex');
    out.push(parseCidr(`${formatIp({ family, address: BigInt(`0x${hex}`) })}/${prefix}`));
  }
  return out.sort((x, y) => x.family - y.family || (x.address < y.address ? -1 : 1));
}
