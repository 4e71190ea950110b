// Random, truncated and hostile messages against a live server over UDP and TCP: it never crashes, keeps
// answering, bounds its state, and answers malformed queries with FORMERR (or drops them).
import dgram from 'node:dgram';
import v8 from 'node:v8';
import vm from 'node:vm';
import net from 'node:net';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { openDnsServer } from '../src/server.js';
import type { DnsServer } from '../src/server.js';
import { TableCluster, dig } from './helpers.js';

const ECHO = 'echo.default.svc.cluster.local';
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const cluster = new TableCluster([{ type: 'A', name: ECHO, data: '198.19.0.5' }]);
let server: DnsServer;
beforeAll(async () => {
  server = await openDnsServer({
    address: '127.0.0.1',
    config: { clusterDomain: 'cluster.local' },
    cluster,
    maxCacheEntries: 500,
    maxTcpConnections: 8,
    tcpIdleTimeoutMs: 500,
  });
}, 30_000);
afterAll(() => server.close());

const validQuery = dnsPacket.encode({
  type: 'query',
  id: 77,
  questions: [{ type: 'A', name: ECHO }],
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

function hdr(qd: number, an: number, ns: number, ar: number): number[] {
  return [0, 1, 1, 0, qd >> 8, qd & 255, an >> 8, an & 255, ns >> 8, ns & 255, ar >> 8, ar & 255];
}
const hostile: Record<string, Buffer> = {
  compressionLoop: Buffer.from([...hdr(1, 0, 0, 0), 0xc0, 0x0c, 0, 1, 0, 1]),
  forwardPointer: Buffer.from([...hdr(1, 0, 0, 0), 0xc0, 0x20, 0, 1, 0, 1]),
  optLoop: Buffer.from([
    ...hdr(1, 0, 0, 1),
    1,
    0x61,
    0,
    0,
    1,
    0,
    1,
    0xc0,
    0x17,
    0,
    41,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]),
  hugeCounts: Buffer.from([...hdr(65535, 65535, 65535, 65535), 1, 0x61, 0, 0, 1, 0, 1]),
  zeroLengthLabels: Buffer.from([...hdr(1, 0, 0, 0), 0, 0, 0, 0, 0, 0, 1, 0, 1]),
  truncatedHeader: Buffer.from(hdr(1, 0, 0, 0).slice(0, 7)),
  truncatedName: Buffer.from([...hdr(1, 0, 0, 0), 30, 0x61, 0x61]),
  hugeRdlength: Buffer.from([
    ...hdr(1, 0, 0, 1),
    1,
    0x61,
    0,
    0,
    1,
    0,
    1,
    0,
    0,
    41,
    4,
    0,
    0,
    0,
    0,
    0,
    0xff,
    0xff,
  ]),
  labelTooLong: Buffer.from([...hdr(1, 0, 0, 0), 64, ...Array<number>(64).fill(0x61), 0, 0, 1, 0, 1]),
};

async function sendAll(messages: Buffer[]): Promise<Buffer[]> {
  const s = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  s.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  for (const m of messages) {
    await new Promise<void>((r) => s.send(m, server.address.port, '127.0.0.1', () => r()));
  }
  await new Promise((r) => setTimeout(r, 200));
  s.close();
  return replies;
}

it('answers hand-made hostile messages with FORMERR or drops them', async () => {
  for (const [label, msg] of Object.entries(hostile)) {
    const replies = await sendAll([msg]);
    for (const reply of replies) {
      expect({ label, rcode: reply[3]! & 0x0f }).toEqual({ label, rcode: 1 });
      expect(reply[2]! & 0x80).toBe(0x80);
    }
  }
  expect((await dig(server.address.port, ECHO)).status).toBe('NOERROR');
}, 30_000);

it('survives random and mutated messages over UDP without growing state', async () => {
  const random = fc.sample(fc.uint8Array({ maxLength: 512 }), 3000).map((b) => Buffer.from(b));
  const mutated = fc
    .sample(
      fc.array(fc.tuple(fc.nat(validQuery.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 5,
      }),
      3000,
    )
    .map((flips) => {
      const m = Buffer.from(validQuery);
      for (const [at, v] of flips) m[at] = v;
      return m.subarray(0, Math.max(0, m.length - (flips[0]![1] % 8)));
    });
  const batch = [...random, ...mutated];
  const settle = async () => {
    for (let i = 0; i < 100 && server.stats.activeQueries > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    cluster.calls = []; // the fixture's own record of calls is not the server's memory
  };
  await sendAll(batch); // warm-up: JIT, socket buffers
  await settle();
  const heapBefore = heapAfterGc();
  const replies = await sendAll(batch);
  for (let i = 0; i < 3; i++) await sendAll(batch);
  await settle();
  const growth = heapAfterGc() - heapBefore;
  for (const reply of replies) expect(reply[2]! & 0x80).toBe(0x80); // only responses, never echoes
  expect(server.cacheSize).toBeLessThanOrEqual(500);
  expect(server.stats.inFlightLookups).toBe(0);
  expect(server.stats.activeQueries).toBe(0);
  // 24,000 more messages: a per-message leak of even 400 bytes would show as ~10 MB.
  expect(growth).toBeLessThan(8 << 20);
  expect((await dig(server.address.port, ECHO)).status).toBe('NOERROR');
  expect((await dig(server.address.port, ECHO, 'A', ['+tcp'])).status).toBe('NOERROR');
}, 30_000);

it('answers hostile messages over TCP like over UDP', async () => {
  for (const msg of Object.values(hostile)) {
    const reply = await new Promise<Buffer | undefined>((resolve) => {
      let buf = Buffer.alloc(0);
      const s = net.connect(server.address.port, '127.0.0.1', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        s.write(Buffer.concat([len, msg]));
        setTimeout(() => s.destroy(), 200);
      });
      s.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 + buf.readUInt16BE(0)) resolve(buf.subarray(2));
      });
      s.on('close', () => resolve(undefined));
      s.on('error', () => {});
    });
    if (reply) expect(reply[3]! & 0x0f).toBe(1);
  }
}, 30_000);

it('survives garbage over TCP and bounds connections', async () => {
  const garbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), 200);
  await Promise.all(
    garbage.map(
      (bytes) =>
        new Promise<void>((resolve) => {
          const s = net.connect(server.address.port, '127.0.0.1', () => s.end(Buffer.from(bytes)));
          s.on('data', () => {});
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        }),
    ),
  );
  // An oversized length prefix closes the connection at once.
  const closed = await new Promise<boolean>((resolve) => {
    const s = net.connect(server.address.port, '127.0.0.1', () =>
      s.write(Buffer.from([0xff, 0xff, 1, 2, 3])),
    );
    s.on('close', () => resolve(true));
    s.on('error', () => {});
  });
  expect(closed).toBe(true);
  // Idle connections beyond the limit are closed; the server keeps answering.
  const idle = await Promise.all(
    Array.from(
      { length: 12 },
      () =>
        new Promise<net.Socket>((r) => {
          const s = net.connect(server.address.port, '127.0.0.1', () => r(s));
          s.on('error', () => {});
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 50));
  expect(server.stats.tcpConnections).toBeLessThanOrEqual(8);
  idle.forEach((s) => s.destroy());
  await new Promise((r) => setTimeout(r, 700));
  expect(server.stats.tcpConnections).toBe(0);
  expect((await dig(server.address.port, ECHO, 'A', ['+tcp'])).status).toBe('NOERROR');
}, 30_000);

it('answers pipelined TCP queries on one connection', async () => {
  const frames = [1, 2, 3].map((id) => {
    const q = dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: ECHO }] });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.length);
    return Buffer.concat([len, q]);
  });
  const ids = await new Promise<number[]>((resolve) => {
    const got: number[] = [];
    let buf = Buffer.alloc(0);
    const s = net.connect(server.address.port, '127.0.0.1', () => s.write(Buffer.concat(frames)));
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        got.push(buf.readUInt16BE(2));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (got.length === 3) {
        s.destroy();
        resolve(got);
      }
    });
  });
  expect(ids.sort()).toEqual([1, 2, 3]);
}, 30_000);
