import fc from 'fast-check';
import { ByteQueue } from './byte-queue.js';

describe('ByteQueue', () => {
  it('copies out any range and drops acknowledged bytes like one flat buffer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.tuple(fc.nat(100), fc.nat(60), fc.nat(30))),
        (chunks, ops) => {
          const q = new ByteQueue();
          let flat = Buffer.alloc(0);
          for (const c of chunks) {
            q.push(Buffer.from(c));
            flat = Buffer.concat([flat, Buffer.from(c)]);
          }
          for (const [off, len, drop] of ops) {
            const o = Math.min(off, flat.length);
            const l = Math.min(len, flat.length - o);
            const out = Buffer.alloc(l);
            if (l > 0) q.copyOut(o, l, out, 0);
            expect(out.equals(flat.subarray(o, o + l))).toBe(true);
            const d = Math.min(drop, flat.length);
            q.consume(d);
            flat = flat.subarray(d);
            expect(q.length).toBe(flat.length);
          }
        },
      ),
    );
  });
});
