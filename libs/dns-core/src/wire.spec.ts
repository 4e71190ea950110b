import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { Rcode } from './types.js';
import { parseQuery, writeRejection, writeResponse } from './wire.js';
import type { ParsedQuery } from './wire.js';

const query = (name: string, extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({
    type: 'query',
    id: 0x1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name }],
    ...extra,
  });

function header(id: number, flags: number, qd: number, an: number, ns: number, ar: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
}
const question = (nameBytes: number[]) => Buffer.from([...nameBytes, 0, 0, 1, 0, 1]);

describe('parseQuery', () => {
  it('reads id, name (case kept), type and EDNS', () => {
    const q = parseQuery(
      query('Echo.Default', {
        additionals: [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 4096,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: dnsPacket.DNSSEC_OK,
            flag_do: true,
            options: [],
          },
        ],
      }),
    );
    expect(q).toMatchObject({
      kind: 'query',
      id: 0x1234,
      name: 'Echo.Default',
      qtype: 1,
      qclass: 1,
      edns: { udpPayload: 4096, version: 0, dnssecOk: true },
    });
  });

  const hostile: Array<[string, Buffer, string, number | undefined]> = [
    ['empty', Buffer.alloc(0), 'drop', undefined],
    ['short header', Buffer.alloc(11), 'drop', undefined],
    ['a response', Buffer.concat([header(1, 0x8000, 1, 0, 0, 0), question([1, 0x61])]), 'drop', undefined],
    ['no question', header(1, 0, 0, 0, 0, 0), 'reject', Rcode.FORMERR],
    [
      'two questions',
      Buffer.concat([header(1, 0, 2, 0, 0, 0), question([1, 0x61]), question([1, 0x62])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'opcode NOTIFY',
      Buffer.concat([header(1, 4 << 11, 1, 0, 0, 0), question([1, 0x61])]),
      'reject',
      Rcode.NOTIMP,
    ],
    [
      'compression loop in qname',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), question([0xc0, 0x0c])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'bad label type',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), question([0x40, 0x61])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'label past the end',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), Buffer.from([10, 0x61])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'name without question tail',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), Buffer.from([1, 0x61, 0])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'name over 255 bytes',
      Buffer.concat([
        header(1, 0, 1, 0, 0, 0),
        question(Array.from({ length: 5 }, () => [63, ...Array<number>(63).fill(0x61)]).flat()),
      ]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'huge arcount, short message',
      Buffer.concat([header(1, 0, 1, 0, 0, 65535), question([1, 0x61])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'huge ancount',
      Buffer.concat([header(1, 0, 1, 65535, 0, 0), question([1, 0x61])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'dot inside a label',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), question([3, 0x61, 0x2e, 0x62])]),
      'reject',
      Rcode.FORMERR,
    ],
    [
      'class CHAOS',
      Buffer.concat([header(1, 0, 1, 0, 0, 0), Buffer.from([1, 0x61, 0, 0, 16, 0, 3])]),
      'reject',
      Rcode.REFUSED,
    ],
    ['oversized', Buffer.concat([header(1, 0, 1, 0, 0, 0), Buffer.alloc(5000)]), 'reject', Rcode.FORMERR],
  ];
  it.each(hostile)('%s -> %s', (_label, msg, kind, rcode) => {
    const r = parseQuery(msg);
    expect(r.kind).toBe(kind);
    if (r.kind === 'reject') {
      expect(r.rcode).toBe(rcode);
      const reply = writeRejection(msg, r, 1232);
      expect(reply.readUInt16BE(0)).toBe(1);
      expect(reply[3]! & 0x0f).toBe(rcode! & 0x0f);
    }
  });

  it('zero-length label ends the name (the root query is fine)', () => {
    expect(parseQuery(Buffer.concat([header(7, 0, 1, 0, 0, 0), question([])]))).toMatchObject({
      kind: 'query',
      name: '',
    });
  });

  it('rejects two OPT records and answers BADVERS for EDNS version 1', () => {
    const opt = (v: number) => ({
      type: 'OPT' as const,
      name: '.',
      udpPayloadSize: 1232,
      extendedRcode: 0,
      ednsVersion: v,
      flags: 0,
      flag_do: false,
      options: [],
    });
    expect(parseQuery(query('a', { additionals: [opt(0), opt(0)] }))).toMatchObject({
      kind: 'reject',
      rcode: Rcode.FORMERR,
    });
    const bad = parseQuery(query('a', { additionals: [opt(1)] }));
    expect(bad).toMatchObject({ kind: 'reject', rcode: Rcode.BADVERS });
    const reply = dnsPacket.decode(writeRejection(query('a', { additionals: [opt(1)] }), bad as never, 1232));
    expect((reply.additionals?.[0] as { extendedRcode: number }).extendedRcode).toBe(1);
  });

  it('never throws on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseQuery(Buffer.from(bytes));
        expect(['query', 'reject', 'drop']).toContain(r.kind);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on mutated valid queries', () => {
    const base = query('echo.default.svc.cluster.local', {
      additionals: [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 1232,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ],
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(base.length),
        (flips, cut) => {
          const msg = Buffer.from(base.subarray(0, cut));
          for (const [at, v] of flips) if (at < msg.length) msg[at] = v;
          const r = parseQuery(msg);
          expect(['query', 'reject', 'drop']).toContain(r.kind);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('writeResponse', () => {
  it('truncates over the limit and keeps id and question', () => {
    const msg = query('Big.Example');
    const parsed = parseQuery(msg) as ParsedQuery;
    const answers = { bytes: Buffer.alloc(600), count: 30 };
    const out = writeResponse(msg, parsed, { rcode: 0, answers, maxBytes: 512, ednsPayload: 1232 });
    const decoded = dnsPacket.decode(out);
    expect(decoded.flag_tc).toBe(true);
    expect(decoded.id).toBe(0x1234);
    expect(decoded.questions?.[0]?.name).toBe('Big.Example');
    expect(decoded.answers).toHaveLength(0);
  });
});

it('rejects trailing bytes after the last record', () => {
  const msg = Buffer.concat([
    dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'a' }] }),
    Buffer.from([0, 0]),
  ]);
  expect(parseQuery(msg)).toMatchObject({ kind: 'reject', rcode: Rcode.FORMERR });
});
