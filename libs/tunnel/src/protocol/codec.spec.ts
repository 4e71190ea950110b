import fc from 'fast-check';
import { FrameError, decodeMessage, encodeData, encodeMessage, type Message } from './codec.js';
import { ConnId } from './connid.js';

const id = ConnId.of('tcp', { ip: '198.18.1.5', port: 40000 }, { ip: '198.19.0.20', port: 80 });

describe('codec', () => {
  const samples: Message[] = [
    { type: 'data', data: Buffer.from('hello') },
    { type: 'data', data: Buffer.alloc(0) },
    {
      type: 'open',
      version: 1,
      minVersion: 1,
      id,
      sessionId: 'sess-1',
      dialTimeoutMs: 3000,
      roundtripLatencyMs: 2000,
    },
    { type: 'open-ok', version: 300 },
    { type: 'close-send' },
    { type: 'dial-ok' },
    { type: 'dial-reject', reason: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' },
    { type: 'disconnect', reason: 'idle' },
    { type: 'keep-alive' },
    { type: 'session', sessionId: 'client-ü' },
  ];

  it.each(samples.map((m) => [m.type, m] as const))('round-trips %s', (_t, msg) => {
    const decoded = decodeMessage(encodeMessage(msg));
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(JSON.parse(JSON.stringify(msg)));
  });

  it('DATA is the code byte plus the payload', () => {
    expect(encodeData(Buffer.from('ab'))).toEqual(Buffer.of(0, 0x61, 0x62));
  });

  it.each([
    [Buffer.alloc(0), 'empty'],
    [Buffer.of(42), 'unknown-code'],
    [Buffer.of(2), 'truncated'],
    [Buffer.of(2, 0x80), 'truncated'],
    [Buffer.of(3, 0), 'trailing-bytes'],
    [Buffer.of(2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 'bad-field'],
    [Buffer.of(8, 5, 0x61), 'truncated'],
    [Buffer.of(8, 2, 0xc3, 0x28), 'bad-field'],
    [Buffer.of(1, 1, 1, 0, 0, 3, 1, 2, 3, 0), 'bad-field'],
  ])('rejects malformed frame %#', (frame, code) => {
    expect(() => decodeMessage(frame)).toThrow(expect.objectContaining({ name: 'FrameError', code }));
  });

  it('rejects frames over the limit', () => {
    expect(() => decodeMessage(Buffer.alloc(101), 100)).toThrow(
      expect.objectContaining({ code: 'oversize' }),
    );
  });

  it('never throws anything but FrameError on random or truncated frames (fuzz)', () => {
    const valid = samples.map((m) => encodeMessage(m));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([f, n]) => f.subarray(0, n % (f.length + 1))),
          fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([f, i, v]) => {
            const c = Buffer.from(f);
            c[i % c.length] = v;
            return c;
          }),
        ),
        (frame) => {
          try {
            decodeMessage(frame);
          } catch (e) {
            expect(e).toBeInstanceOf(FrameError);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});
