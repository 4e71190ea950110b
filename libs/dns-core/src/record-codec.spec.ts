import fc from 'fast-check';
import type { Answer } from 'dns-packet';
import {
  clusterAnswerFromWire,
  clusterAnswerToWire,
  decodeRecord,
  DnsRecordError,
  encodeRecord,
} from './record-codec.js';

const samples: Answer[] = [
  { type: 'A', name: 'echo.default.svc.cluster.local', ttl: 4, class: 'IN', data: '198.19.0.5' },
  { type: 'AAAA', name: 'echo.default', ttl: 4, class: 'IN', data: '2001:db8::5' },
  { type: 'CNAME', name: 'alias.default', ttl: 4, class: 'IN', data: 'echo.default.svc.cluster.local' },
  {
    type: 'PTR',
    name: '5.0.19.198.in-addr.arpa',
    ttl: 4,
    class: 'IN',
    data: 'echo.default.svc.cluster.local',
  },
  { type: 'NS', name: 'cluster.local', ttl: 4, class: 'IN', data: 'ns.cluster.local' },
  {
    type: 'SRV',
    name: '_http._tcp.echo.default',
    ttl: 4,
    class: 'IN',
    data: { priority: 1, weight: 2, port: 80, target: 'echo.default' },
  },
  {
    type: 'MX',
    name: 'echo.default',
    ttl: 4,
    class: 'IN',
    data: { preference: 10, exchange: 'mail.default' },
  },
];

describe('record codec', () => {
  it.each(samples.map((s) => [s.type, s] as const))('round-trips %s', (_t, record) => {
    expect(decodeRecord(encodeRecord(record))).toEqual(
      expect.objectContaining({
        type: record.type,
        name: record.name,
        data: (record as { data: unknown }).data,
      }),
    );
  });

  it('round-trips TXT', () => {
    const txt: Answer = { type: 'TXT', name: 't.default', ttl: 4, data: ['hello', 'world'] };
    expect((decodeRecord(encodeRecord(txt)) as { data: Buffer[] }).data.map(String)).toEqual([
      'hello',
      'world',
    ]);
  });

  it('converts a whole DNSAnswer both ways', () => {
    const wire = clusterAnswerToWire({ rcode: 0, answers: samples });
    expect(wire.records).toHaveLength(samples.length);
    expect(clusterAnswerFromWire(wire).answers.map((a) => a.type)).toEqual(samples.map((s) => s.type));
  });

  it('rejects trailing and truncated bytes', () => {
    const bytes = encodeRecord(samples[0]!);
    expect(() => decodeRecord(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(DnsRecordError);
    expect(() => decodeRecord(bytes.subarray(0, bytes.length - 1))).toThrow(DnsRecordError);
  });

  it('round-trips random A/AAAA records and never throws anything but DnsRecordError on noise', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    fc.assert(
      fc.property(
        fc.array(label, { minLength: 1, maxLength: 5 }),
        fc.ipV4(),
        fc.nat(86400),
        (labels, ip, ttl) => {
          const r: Answer = { type: 'A', name: labels.join('.'), ttl, class: 'IN', data: ip };
          expect(decodeRecord(encodeRecord(r))).toMatchObject({ name: r.name, data: ip, ttl });
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeRecord(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DnsRecordError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
