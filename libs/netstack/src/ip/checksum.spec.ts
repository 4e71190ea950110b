import fc from 'fast-check';
import { checksum } from '../testing/memory-device.js';
import { finish, onesSum } from './checksum.js';

describe('onesSum', () => {
  it('matches the byte-by-byte checksum for any data, offset and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(7), (data, pad) => {
        const buf = Buffer.alloc(data.length + pad + 8);
        buf.set(data, pad);
        expect(finish(onesSum(buf, pad, data.length))).toBe(checksum(buf, pad, data.length));
      }),
    );
  });

  it('gives 0xffff over data that includes its own valid checksum', () => {
    const b = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    b.writeUInt16BE(checksum(b, 0, 20), 10);
    expect(onesSum(b, 0, 20)).toBe(0xffff);
  });
});
