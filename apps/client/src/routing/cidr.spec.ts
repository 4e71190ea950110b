import fc from 'fast-check';
import { containsIp, covers, formatCidr, makeCidr, parseCidr, pruneCovered, subtract } from './cidr.js';

describe('cidr', () => {
  it.each([
    ['198.18.1.7/24', '198.18.1.0/24'],
    ['198.18.1.7', '198.18.1.7/32'],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:db8:0:0:1::1/80', '2001:db8:0:0:1::/80'],
  ])('parses %s as %s', (text, want) => {
    expect(formatCidr(parseCidr(text))).toBe(want);
  });

  it.each(['198.18.1.0/33', '198.18.1/24', 'x/8', '198.18.1.0/2/3', '198.18.1.0/-1'])(
    'rejects %s',
    (text) => {
      expect(() => parseCidr(text)).toThrow(/invalid/);
    },
  );

  it('subtract leaves exactly the addresses not removed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 }), (host, prefix) => {
        const a = parseCidr('198.18.1.0/24');
        const b = makeCidr(4, parseCidr(`198.18.1.${host}`).base, prefix);
        const rest = subtract(a, b);
        for (let i = 0; i < 256; i++) {
          const ip = `198.18.1.${i}`;
          const inRest = rest.filter((r) => containsIp(r, ip)).length;
          expect(inRest).toBe(containsIp(b, ip) ? 0 : 1);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('pruneCovered keeps the widest', () => {
    const out = pruneCovered([
      parseCidr('198.18.1.0/24'),
      parseCidr('198.18.0.0/16'),
      parseCidr('198.18.0.0/16'),
    ]);
    expect(out.map(formatCidr)).toEqual(['198.18.0.0/16']);
    expect(covers(parseCidr('198.18.0.0/16'), parseCidr('198.19.0.0/16'))).toBe(false);
  });
});
