import fc from 'fast-check';
import { IPv4, IPv6, Validator } from 'ip-num';
import { ip } from '../test/arbitraries.js';
import { CidrError } from './errors.js';
import { formatIp, ipFromBytes, ipToBytes, isLoopbackIp, parseIp } from './ip.js';
import { ipTextFromBytes, ipTextToBytes } from './ip.js';

describe('parseIp', () => {
  it.each([
    ['198.18.0.1', 4, 0xc6120001n],
    ['0.0.0.0', 4, 0n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['2001:db8::1', 6, (0x20010db8n << 96n) | 1n],
    ['2001:DB8::1', 6, (0x20010db8n << 96n) | 1n],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, (0x20010db8n << 96n) | 1n],
    ['1:2:3:4:5:6:7::', 6, 0x0001000200030004000500060007_0000n],
    ['::ffff:198.18.0.1', 6, 0xffff_c6120001n],
    ['64:ff9b::198.18.0.1', 6, (0x64ff9bn << 96n) | 0xc6120001n],
    ['1:2:3:4:5:6:198.18.0.1', 6, 0x0001000200030004000500060000_0000n | 0xc6120001n],
  ])('parses %s', (s, family, address) => {
    expect(parseIp(s)).toEqual({ family, address });
  });

  it.each([
    ['', 'empty address'],
    [' ', 'whitespace'],
    [' 198.18.0.1', 'whitespace'],
    ['198.18.0.1\n', 'whitespace'],
    ['1.2.3', 'expected 4 IPv4 octets, got 3'],
    ['1.2.3.4.5', 'too many IPv4 octets'],
    ['1.2.3.', 'empty IPv4 octet'],
    ['.1.2.3', 'empty IPv4 octet'],
    ['1..2.3', 'empty IPv4 octet'],
    ['256.0.0.1', 'larger than 255'],
    ['1.2.3.1000', 'larger than 255'],
    ['01.2.3.4', 'leading zeros'],
    ['1.2.3.00', 'leading zeros'],
    ['a.b.c.d', 'unexpected character "a"'],
    ['1.2.3.4/8', 'unexpected character "/"'],
    ['+1.2.3.4', 'unexpected character "+"'],
    ['fe80::1%eth0', 'zone ids'],
    ['fe80::1%1', 'zone ids'],
    [':', 'empty group'],
    [':1', 'empty group'],
    ['1:', 'empty group'],
    [':::', '"::" may appear only once'],
    ['1::2::3', '"::" may appear only once'],
    ['1:2:3:4:5:6:7', 'expected 8 groups, got 7'],
    ['1:2:3:4:5:6:7:8:9', 'expected 8 groups, got 9'],
    ['1:2:3:4::5:6:7:8', 'too many groups'],
    ['12345::', 'more than 4 hex digits'],
    ['g::1', 'unexpected character "g"'],
    ['::1.2.3.4:1', 'embedded IPv4 address may only be the last part'],
    ['1.2.3.4::', 'embedded IPv4 address may only be the last part'],
    ['::ffff:1.2.3', 'expected 4 IPv4 octets'],
    ['::ffff:01.2.3.4', 'leading zeros'],
    ['1:2:3:4:5:6:7:1.2.3.4', 'expected 8 groups, got 9'],
    ['x'.repeat(100), 'too long'],
  ])('rejects %j (%s)', (s, reason) => {
    expect(() => parseIp(s)).toThrow(CidrError);
    expect(() => parseIp(s)).toThrow(`invalid IP address ${JSON.stringify(s)}: `);
    expect(() => parseIp(s)).toThrow(reason);
  });

  it('rejects non-strings with a clear message', () => {
    expect(() => parseIp(42 as unknown as string)).toThrow(
      'invalid IP address 42: expected a string, got number',
    );
  });
});

describe('formatIp', () => {
  it.each([
    ['198.18.0.1', '198.18.0.1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // never "::" for one group
    ['2001:db8:3333:4444:5555:6666:7700:0', '2001:db8:3333:4444:5555:6666:7700:0'],
    ['::ffff:198.18.0.1', '::ffff:198.18.0.1'],
    ['1::', '1::'],
  ])('formats %s as %s', (s, want) => {
    expect(formatIp(parseIp(s))).toBe(want);
  });
});

describe('bytes', () => {
  it('converts to and from 4 and 16 byte buffers', () => {
    expect(ipToBytes(parseIp('198.18.0.1'))).toEqual(Buffer.from([198, 18, 0, 1]));
    expect(ipToBytes(parseIp('2001:db8::1'))).toEqual(Buffer.from('20010db8000000000000000000000001', 'hex'));
    expect(ipFromBytes(Buffer.from([198, 18, 0, 1]))).toEqual(parseIp('198.18.0.1'));
    expect(() => ipFromBytes(new Uint8Array(5))).toThrow('expected 4 (IPv4) or 16 (IPv6) bytes');
  });
});

describe('text <-> bytes', () => {
  it('converts IPv4, IPv6 and IPv4-mapped IPv6 both ways', () => {
    expect(ipTextToBytes('198.18.0.1')).toEqual(Buffer.from([198, 18, 0, 1]));
    expect(ipTextToBytes('2001:db8::1')).toEqual(Buffer.from('20010db8000000000000000000000001', 'hex'));
    // IPv4-mapped: two earlier copies read "198.18.0.1" as one hex group and got 0:0:0:0:0:ffff:198:0.
    const mapped = ipTextToBytes('::ffff:198.18.0.1');
    expect(mapped).toEqual(Buffer.from('00000000000000000000ffffc6120001', 'hex'));
    expect(ipTextFromBytes(mapped)).toBe('::ffff:198.18.0.1');
    expect(ipTextToBytes('::FFFF:c612:1')).toEqual(mapped);
    expect(ipTextFromBytes(Buffer.from([198, 18, 0, 1]))).toBe('198.18.0.1');
    expect(ipTextFromBytes(ipTextToBytes('2001:0db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(ipTextFromBytes(ipTextToBytes('2001:db8::198.18.0.1'))).toBe('2001:db8::c612:1');
  });

  it('rejects what is not one address, and other byte lengths', () => {
    expect(() => ipTextToBytes('198.18.0')).toThrow(CidrError);
    expect(() => ipTextToBytes('fe80::1%eth0')).toThrow(CidrError);
    expect(() => ipTextToBytes('')).toThrow(CidrError);
    expect(() => ipTextFromBytes(new Uint8Array(5))).toThrow('expected 4 (IPv4) or 16 (IPv6) bytes');
  });

  it('round-trips every address', () => {
    fc.assert(
      fc.property(ip(), (address) => {
        const bytes = ipTextToBytes(formatIp(address));
        expect(bytes).toEqual(ipToBytes(address));
        expect(ipTextFromBytes(bytes)).toBe(formatIp(address));
      }),
    );
  });
});

it('isLoopbackIp', () => {
  expect(isLoopbackIp(parseIp('127.0.0.1'))).toBe(true);
  expect(isLoopbackIp(parseIp('127.255.0.9'))).toBe(true);
  expect(isLoopbackIp(parseIp('::1'))).toBe(true);
  expect(isLoopbackIp(parseIp('128.0.0.1'))).toBe(false);
  expect(isLoopbackIp(parseIp('::2'))).toBe(false);
  expect(isLoopbackIp(parseIp('::ffff:127.0.0.1'))).toBe(false);
});

describe('properties (ip-num as the oracle)', () => {
  it('format then parse is the identity, and ip-num reads our text as the same value', () => {
    fc.assert(
      fc.property(ip(), (a) => {
        const text = formatIp(a);
        expect(parseIp(text)).toEqual(a);
        const theirs = a.family === 4 ? IPv4.fromString(text) : IPv6.fromString(text);
        expect(theirs.getValue()).toBe(a.address);
      }),
      { numRuns: 2000 },
    );
  });

  it("we read ip-num's text (expanded IPv6) as the same value", () => {
    fc.assert(
      fc.property(ip(), (a) => {
        const text =
          a.family === 4 ? IPv4.fromNumber(a.address).toString() : IPv6.fromBigInt(a.address).toString();
        expect(parseIp(text)).toEqual(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('bytes round trip', () => {
    fc.assert(fc.property(ip(), (a) => expect(ipFromBytes(ipToBytes(a))).toEqual(a)));
  });

  it('never accepts a mutated address silently: either throws CidrError or parses to a valid value', () => {
    fc.assert(
      fc.property(ip(), fc.nat(), fc.constantFrom(' ', '/', '%', ':', '.', '0', 'x', ''), (a, at, ch) => {
        const text = formatIp(a);
        const i = at % (text.length + 1);
        const mutated = text.slice(0, i) + ch + text.slice(i + 1);
        try {
          const got = parseIp(mutated);
          // Accepted: it must mean the same to ip-num.
          const theirs = got.family === 4 ? IPv4.fromString(mutated) : IPv6.fromString(mutated);
          expect(theirs.getValue()).toBe(got.address);
        } catch (e) {
          expect(e).toBeInstanceOf(CidrError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly what ip-num accepts among random strings of address characters, with the same value', () => {
    // ip-num is laxer only where this alphabet can't reach (zone ids with "%"); on the rest they agree.
    const text = fc.string({ unit: fc.constantFrom(...'0123456789abcdef:.:.01'.split('')), maxLength: 20 });
    fc.assert(
      fc.property(text, (s) => {
        let ours: bigint | undefined;
        try {
          ours = parseIp(s).address;
        } catch (e) {
          expect(e).toBeInstanceOf(CidrError);
        }
        const v6 = s.includes(':');
        const valid = v6 ? Validator.isValidIPv6String(s)[0] : Validator.isValidIPv4String(s)[0];
        const theirs = valid ? (v6 ? IPv6.fromString(s) : IPv4.fromString(s)).getValue() : undefined;
        expect(ours).toBe(theirs);
      }),
      { numRuns: 20000 },
    );
  });
});
