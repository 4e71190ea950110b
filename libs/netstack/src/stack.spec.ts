import { jest } from '@jest/globals';
import fc from 'fast-check';
import type { AttachTcp, FlowHandler } from './flow-handler.js';
import { Netstack } from './stack.js';
import { ACK, RST, SYN } from './tcp/segment.js';
import { MemoryDevice, tcpPacket4 } from './testing/memory-device.js';

const app = { src: '198.19.0.1', dst: '198.18.0.10', srcPort: 40000, dstPort: 80 };
const mssOption = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7]);

function setup(handler: FlowHandler, options = {}) {
  const dev = new MemoryDevice();
  const stack = new Netstack(dev, handler, { connectTimeoutMs: 200, ...options });
  stack.start();
  return { dev, stack };
}

const flagsOf = (p: Buffer) => p[33]! & 0x3f;

describe('Netstack TCP handshake', () => {
  afterEach(() => jest.useRealTimers());

  it('answers SYN-ACK only after the handler accepts', async () => {
    let accept!: (a: AttachTcp) => void;
    const { dev, stack } = setup({ onTcpConnect: () => new Promise((r) => (accept = r)) });
    dev.inject(tcpPacket4({ ...app, seq: 1000, flags: SYN, options: mssOption }));
    expect(dev.take()).toHaveLength(0);
    accept((flow) => flow.on('error', () => undefined));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const out = dev.take();
    expect(out).toHaveLength(1);
    expect(flagsOf(out[0]!)).toBe(SYN | ACK);
    expect(out[0]!.readUInt32BE(28)).toBe(1001);
    stack.close();
  });

  it('answers RST when the handler rejects', async () => {
    const { dev, stack } = setup({ onTcpConnect: () => Promise.reject(new Error('no')) });
    dev.inject(tcpPacket4({ ...app, seq: 5, flags: SYN }));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const out = dev.take();
    expect(out.map(flagsOf)).toEqual([RST | ACK]);
    expect(stack.getStats()).toMatchObject({ tcpRejected: 1, tcpActive: 0 });
    stack.close();
  });

  it('resets segments for unknown connections and drops bad checksums', () => {
    const { dev, stack } = setup({ onTcpConnect: () => new Promise(() => undefined) });
    dev.inject(tcpPacket4({ ...app, seq: 5, ack: 77, flags: ACK }));
    expect(dev.take().map(flagsOf)).toEqual([RST]);
    const bad = tcpPacket4({ ...app, seq: 5, flags: SYN });
    bad.writeUInt16BE(bad.readUInt16BE(36) ^ 0x0101, 36);
    dev.inject(bad);
    expect(stack.getStats().dropBadChecksum).toBe(1);
    stack.close();
  });
});

describe('Netstack fuzz', () => {
  it('never throws and never keeps state for garbage, truncated or mutated packets', () => {
    const { dev, stack } = setup({ onTcpConnect: () => Promise.reject(new Error('no')) });
    const seeds = [
      tcpPacket4({ ...app, seq: 1, flags: SYN, options: mssOption }),
      tcpPacket4({ ...app, seq: 1, ack: 2, flags: ACK, data: Buffer.from('hello') }),
      Buffer.from(
        '6000000000081140' + '20010db8000000000000000000000001'.repeat(2) + '0035003500080000',
        'hex',
      ),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }).map((a) => Buffer.from(a)),
          fc
            .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(200), fc.nat(255))), fc.nat(200))
            .map(([seed, flips, cut]) => {
              const p = Buffer.from(seed);
              for (const [i, v] of flips) if (i < p.length) p[i] = v;
              return p.subarray(0, Math.max(1, Math.min(p.length, cut + 1)));
            }),
        ),
        (packet) => {
          dev.inject(packet);
          dev.take();
        },
      ),
      { numRuns: 3000 },
    );
    // Connections created by mutated SYNs wait for the (rejecting) handler; none may stay open.
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(stack.getStats()).toMatchObject({ tcpActive: 0, udpActive: 0 });
        stack.close();
        resolve();
      }, 50),
    );
  });
});
