import fc from 'fast-check';
import { common } from '@telepresence/rpc';

const { TunnelMessage } = common;
import { deserializeTunnelMessage, serializeTunnelMessage } from './grpc-codec.js';

describe('fast TunnelMessage codec', () => {
  it('is byte-identical to the generated codec both ways (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
        const payload = Buffer.from(bytes);
        const ours = serializeTunnelMessage({ payload });
        const generated = Buffer.from(TunnelMessage.encode({ payload }).finish());
        expect(ours.equals(generated)).toBe(true);
        expect(deserializeTunnelMessage(generated).payload.equals(payload)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('skips unknown fields and rejects truncated input', () => {
    const withExtra = Buffer.concat([
      Buffer.of(0x10, 0x05),
      serializeTunnelMessage({ payload: Buffer.from('hi') }),
    ]);
    expect(deserializeTunnelMessage(withExtra).payload.toString()).toBe('hi');
    expect(() => deserializeTunnelMessage(Buffer.of(0x0a, 0x05, 1))).toThrow(/truncated/);
  });
});
