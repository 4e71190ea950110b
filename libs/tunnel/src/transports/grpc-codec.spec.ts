import fc from 'fast-check';
import { common } from '@telepresence/rpc';

const { TunnelMessage } = common;
import { encodeData } from '../protocol/codec.js';
import { dataFrameWire, deserializeTunnelMessage, serializeTunnelMessage } from './grpc-codec.js';

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

  it('builds DATA frames in wire form and keeps the wire form of received messages (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
        const chunk = Buffer.from(bytes);
        const { frame, wire } = dataFrameWire(chunk);
        expect(frame.equals(encodeData(chunk))).toBe(true);
        const generated = Buffer.from(TunnelMessage.encode({ payload: frame }).finish());
        expect(wire.equals(generated)).toBe(true);
        expect(serializeTunnelMessage({ payload: frame, wire })).toBe(wire);
        const received = deserializeTunnelMessage(generated);
        expect(received.wire).toBe(generated);
        expect(received.payload.equals(frame)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps no wire form for messages that are more than one payload field', () => {
    const one = serializeTunnelMessage({ payload: Buffer.from('hi') });
    expect(deserializeTunnelMessage(Buffer.concat([Buffer.of(0x10, 0x05), one])).wire).toBeUndefined();
    expect(deserializeTunnelMessage(Buffer.concat([one, one])).wire).toBeUndefined();
    expect(deserializeTunnelMessage(Buffer.of(0x0a, 0x81, 0x00, 0x61)).wire).toBeUndefined(); // long varint
  });
});
