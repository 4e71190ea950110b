// The fallback upstream on its own: socket reuse, spoofed replies ignored, TCP retry, timeouts.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { createUdpTcpUpstream, UpstreamError } from '../src/upstream.js';
import { startUpstream } from './helpers.js';

it('reuses one UDP socket and ignores replies with a wrong id or question', async () => {
  const fake = dgram.createSocket('udp4');
  await new Promise<void>((r) => fake.bind(0, '127.0.0.1', r));
  const sources = new Set<number>();
  fake.on('message', (msg, rinfo) => {
    sources.add(rinfo.port);
    const q = dnsPacket.decode(msg);
    const reply = (id: number, name: string, data: string) =>
      dnsPacket.encode({
        type: 'response',
        id,
        questions: [{ type: 'A', name }],
        answers: [{ type: 'A', name, data }],
      });
    fake.send(reply((q.id! + 1) & 0xffff, q.questions![0]!.name, '198.18.6.6'), rinfo.port, rinfo.address); // wrong id
    fake.send(reply(q.id!, 'other.test', '198.18.6.7'), rinfo.port, rinfo.address); // wrong question
    setTimeout(
      () => fake.send(reply(q.id!, q.questions![0]!.name, '198.18.0.1'), rinfo.port, rinfo.address),
      10,
    );
  });
  const upstream = createUdpTcpUpstream({ address: '127.0.0.1', port: fake.address().port, timeoutMs: 1000 });
  try {
    const answers = await Promise.all(
      ['a.test', 'b.test', 'c.test'].map((name) =>
        upstream.exchange({ name, qtype: 1 }, new AbortController().signal),
      ),
    );
    expect(answers.map((a) => (a.answers[0] as { data: string }).data)).toEqual([
      '198.18.0.1',
      '198.18.0.1',
      '198.18.0.1',
    ]);
    expect(sources.size).toBe(1);
  } finally {
    upstream.close();
    fake.close();
  }
});

/** 60 A records: more than a UDP reply holds, so the answer comes over TCP. */
const tooManyForUdp = () =>
  Array.from({ length: 60 }, (_, i) => ({
    type: 'A' as const,
    name: 'many.test',
    data: `198.18.1.${i + 1}`,
  }));

it('retries over TCP when the UDP reply is truncated', async () => {
  const server = await startUpstream(tooManyForUdp());
  const upstream = createUdpTcpUpstream({ address: '127.0.0.1', port: server.port, timeoutMs: 10_000 });
  try {
    const r = await upstream.exchange({ name: 'many.test', qtype: 1 }, new AbortController().signal);
    expect(r.answers).toHaveLength(60);
    expect(server.tcpQueries).toBe(1);
  } finally {
    upstream.close();
    await server.close();
  }
});

it('times out, honours the caller signal and rejects bad addresses', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  const upstream = createUdpTcpUpstream({
    address: '127.0.0.1',
    port: silent.address().port,
    timeoutMs: 200,
  });
  try {
    const t0 = Date.now();
    await expect(
      upstream.exchange({ name: 'x.test', qtype: 1 }, new AbortController().signal),
    ).rejects.toBeInstanceOf(UpstreamError);
    expect(Date.now() - t0).toBeLessThan(1000);
    const ac = new AbortController();
    const p = upstream.exchange({ name: 'y.test', qtype: 1 }, ac.signal);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(UpstreamError);
  } finally {
    upstream.close();
    silent.close();
  }
  expect(() => createUdpTcpUpstream({ address: 'dns.example' })).toThrow(/not an IP address/);
});

it('sends from the sockets it is given, in turn, and opens TCP through connectTcp', async () => {
  const server = await startUpstream(tooManyForUdp());
  const pool = await Promise.all(
    [0, 1].map(async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    }),
  );
  const poolPorts = pool.map((s) => s.address().port);
  const tcpOpened: Array<{ host: string; port: number }> = [];
  const upstream = createUdpTcpUpstream({
    address: '127.0.0.1',
    port: server.port,
    timeoutMs: 10_000,
    udpSockets: pool,
    connectTcp: async (to) => {
      tcpOpened.push(to);
      return net.connect(to);
    },
  });
  try {
    const r = await upstream.exchange({ name: 'many.test', qtype: 1 }, new AbortController().signal);
    expect(r.answers).toHaveLength(60);
    expect(tcpOpened).toEqual([{ host: '127.0.0.1', port: server.port }]);
    expect(new Set(server.udpSources)).toEqual(new Set(poolPorts.slice(0, 1)));
    await upstream.exchange({ name: 'many.test', qtype: 1 }, new AbortController().signal);
    expect(new Set(server.udpSources)).toEqual(new Set(poolPorts));
  } finally {
    upstream.close();
    await server.close();
  }
  // The upstream owns the sockets it was given.
  expect(() => pool[0]!.address()).toThrow();
});
