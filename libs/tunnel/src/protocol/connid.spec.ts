import fc from 'fast-check';
import { ConnId, ConnIdError, bytesToIp, ipToBytes } from './connid.js';

describe('ConnId', () => {
  it.each([
    ['tcp', '198.18.1.5', 40000, '198.19.0.20', 80, 13, 'tcp 198.18.1.5:40000 -> 198.19.0.20:80'],
    ['udp', '198.18.0.1', 53, '198.19.0.10', 53, 13, 'udp 198.18.0.1:53 -> 198.19.0.10:53'],
    ['tcp', '2001:db8::1', 1, '2001:db8:0:0:1::2', 443, 37, 'tcp [2001:db8::1]:1 -> [2001:db8::1:0:0:2]:443'],
    // RFC 5952 5: an IPv4-mapped address keeps its dotted quad.
    ['udp', '::', 0, '::ffff:198.18.0.1', 65535, 37, 'udp [::]:0 -> [::ffff:198.18.0.1]:65535'],
  ] as const)('%s %s:%d -> %s:%d', (proto, sip, sport, dip, dport, len, text) => {
    const id = ConnId.of(proto, { ip: sip, port: sport }, { ip: dip, port: dport });
    expect(id.toBytes()).toHaveLength(len);
    expect(id.toString()).toBe(text);
    const back = ConnId.fromBytes(id.toBytes());
    expect(back.equals(id)).toBe(true);
    expect(back.toString()).toBe(text);
    expect(ConnId.fromKey(id.key).toString()).toBe(text);
    expect(id.reply().toString()).toBe(text.replace(/^(\w+) (\S+) -> (\S+)$/, '$1 $3 -> $2'));
    expect(id.reply().reply().key).toBe(id.key);
  });

  it('is usable as a Map key through .key', () => {
    const m = new Map<string, number>();
    m.set(ConnId.of('tcp', { ip: '198.18.0.1', port: 1 }, { ip: '198.18.0.2', port: 2 }).key, 1);
    expect(m.get(ConnId.of('tcp', { ip: '198.18.0.1', port: 1 }, { ip: '198.18.0.2', port: 2 }).key)).toBe(1);
    expect(
      m.get(ConnId.of('udp', { ip: '198.18.0.1', port: 1 }, { ip: '198.18.0.2', port: 2 }).key),
    ).toBeUndefined();
  });

  it.each([
    [Buffer.alloc(0), 'bad-length'],
    [Buffer.alloc(12), 'bad-length'],
    [Buffer.alloc(38), 'bad-length'],
    [Buffer.alloc(13), 'bad-protocol'],
    [Buffer.concat([Buffer.alloc(12), Buffer.of(1)]), 'bad-protocol'],
  ])('rejects malformed bytes %#', (bytes, code) => {
    expect(() => ConnId.fromBytes(bytes)).toThrow(ConnIdError);
    try {
      ConnId.fromBytes(bytes);
    } catch (e) {
      expect((e as ConnIdError).code).toBe(code);
    }
  });

  it.each([
    [{ ip: '198.18.0.1', port: 1 }, { ip: '2001:db8::1', port: 1 }, 'mixed-family'],
    [{ ip: '198.18.0.256', port: 1 }, { ip: '198.18.0.1', port: 1 }, 'bad-address'],
    [{ ip: 'localhost', port: 1 }, { ip: '198.18.0.1', port: 1 }, 'bad-address'],
    [{ ip: '198.18.0.1', port: 65536 }, { ip: '198.18.0.1', port: 1 }, 'bad-port'],
    [{ ip: '198.18.0.1', port: 1.5 }, { ip: '198.18.0.1', port: 1 }, 'bad-port'],
  ])('rejects bad fields %#', (src, dst, code) => {
    expect(() => ConnId.of('tcp', src, dst)).toThrow(expect.objectContaining({ name: 'ConnIdError', code }));
  });

  it('round-trips any bytes of valid length and protocol (property)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uint8Array({ minLength: 36, maxLength: 36 }),
        fc.constantFrom(6, 17),
        (v4, body, proto) => {
          const bytes = Buffer.concat([Buffer.from(body.subarray(0, v4 ? 12 : 36)), Buffer.of(proto)]);
          const id = ConnId.fromBytes(bytes);
          expect(id.toBytes().equals(bytes)).toBe(true);
          const again = ConnId.of(id.protocol, id.source, id.destination);
          expect(again.key).toBe(id.key);
        },
      ),
    );
  });

  it('an address seen before gives the same id, and a bad one is refused every time', () => {
    for (let i = 0; i < 3; i++) {
      const id = ConnId.of('tcp', { ip: '2001:DB8:0::7', port: 1 }, { ip: '2001:db8::8', port: 2 });
      expect(id.toString()).toBe('tcp [2001:db8::7]:1 -> [2001:db8::8]:2');
      expect(id.key).toBe(
        ConnId.of('tcp', { ip: '2001:db8::7', port: 1 }, { ip: '2001:db8::8', port: 2 }).key,
      );
      expect(() => ConnId.of('tcp', { ip: '198.18.0.256', port: 1 }, { ip: '198.18.0.1', port: 2 })).toThrow(
        ConnIdError,
      );
    }
  });

  it('formats IPv6 per RFC 5952 and parses it back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = bytesToIp(b);
        expect(ipToBytes(text).equals(Buffer.from(b))).toBe(true);
      }),
    );
    expect(bytesToIp(ipToBytes('2001:0db8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(bytesToIp(ipToBytes('2001:db8::198.18.0.1'))).toBe('2001:db8::c612:1');
  });
});
