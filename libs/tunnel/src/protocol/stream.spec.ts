import { createHash } from 'node:crypto';
import { memoryChannelPair } from './memory-channel.js';
import { encodeMessage } from './codec.js';
import { ConnId } from './connid.js';
import { memoryLogger } from './log.js';
import { splice } from '../endpoints/splice.js';
import {
  acceptStream,
  openStream,
  PROTOCOL_VERSION,
  type StreamOptions,
  type TunnelStream,
} from './stream.js';

const id = ConnId.of('tcp', { ip: '198.18.1.5', port: 40000 }, { ip: '198.19.0.20', port: 80 });
const udpId = ConnId.of('udp', { ip: '198.18.1.5', port: 40000 }, { ip: '198.19.0.10', port: 53 });

async function pair(opts: StreamOptions = {}, acceptOpts: StreamOptions = opts, connId = id) {
  const [a, b] = memoryChannelPair();
  const [client, server] = await Promise.all([
    openStream(a, { id: connId, sessionId: 'sess-1', dialTimeoutMs: 1234 }, opts),
    acceptStream(b, acceptOpts),
  ]);
  return { client, server, channels: [a, b] as const };
}

function collect(s: TunnelStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c) => chunks.push(Buffer.from(c)));
  return new Promise((resolve) => s.on('end', () => resolve(Buffer.concat(chunks))));
}

describe('TunnelStream over a memory pair', () => {
  it('handshakes: both sides agree on id, session, timeout and version', async () => {
    const { client, server } = await pair();
    expect(server.id.toString()).toBe(id.toString());
    expect(server.sessionId).toBe('sess-1');
    expect(server.dialTimeoutMs).toBe(1234);
    expect(client.version).toBe(PROTOCOL_VERSION);
    expect(server.version).toBe(PROTOCOL_VERSION);
    client.disconnect('test over');
    expect((await server.done).reason).toBe('peer-disconnect');
  });

  it('transfers both ways with half-close and ends with eof on both sides', async () => {
    const { client, server } = await pair({ maxChunkBytes: 4096 });
    const atServer = collect(server);
    const atClient = collect(client);
    server.on('end', () => {
      server.write(Buffer.alloc(100_000, 7));
      server.end();
    });
    client.resume();
    server.resume();
    const payload = Buffer.alloc(400 * 1024, 3);
    client.write(payload);
    client.end();
    expect((await atServer).equals(payload)).toBe(true);
    expect((await atClient).equals(Buffer.alloc(100_000, 7))).toBe(true);
    const [ce, se] = await Promise.all([client.done, server.done]);
    expect([ce.reason, ce.error, se.reason, se.error]).toEqual(['eof', undefined, 'eof', undefined]);
    expect(ce.stats.bytesSent).toBe(payload.length);
    expect(se.stats.bytesReceived).toBe(payload.length);
    expect(ce.stats.bytesReceived).toBe(100_000);
  });

  it('reports an unsupported version clearly on both sides, no hang', async () => {
    const [a, b] = memoryChannelPair();
    const opened = openStream(a, { id, sessionId: 's', dialTimeoutMs: 1 }, { versionRange: [7, 9] });
    const accepted = acceptStream(b);
    const [o, acc] = await Promise.allSettled([opened, accepted]);
    expect(o).toMatchObject({
      status: 'rejected',
      reason: {
        code: 'version',
        message: expect.stringMatching(/peer speaks tunnel protocol version 1, this side speaks 7..9/),
      },
    });
    expect(acc).toMatchObject({
      status: 'rejected',
      reason: { code: 'version', message: expect.stringMatching(/7..9, this side speaks 1..1/) },
    });
  });

  it('rejects a wrong first message with a protocol error', async () => {
    const [a, b] = memoryChannelPair();
    const accepted = acceptStream(b);
    a.start({ frame: () => {}, end: () => {}, error: () => {} });
    a.inject(encodeMessage({ type: 'data', data: Buffer.from('GET / HTTP/1.1') }));
    await expect(accepted).rejects.toMatchObject({
      code: 'protocol',
      message: expect.stringMatching(/first message must be OPEN, got DATA/),
    });
  });

  it('times out a handshake the peer never answers', async () => {
    const [a] = memoryChannelPair();
    await expect(
      openStream(a, { id, sessionId: 's', dialTimeoutMs: 1 }, { handshakeTimeoutMs: 50 }),
    ).rejects.toMatchObject({ code: 'handshake-timeout' });
  });

  it('holds the writer to maxBufferedBytes while the reader is paused', async () => {
    const { client, server } = await pair({ maxBufferedBytes: 64 * 1024, maxChunkBytes: 8 * 1024 });
    let written = 0;
    const fill = () => {
      while (client.write(Buffer.alloc(8 * 1024))) written += 8 * 1024;
      written += 8 * 1024;
    };
    client.on('drain', fill);
    fill();
    await new Promise((r) => setTimeout(r, 100));
    client.off('drain', fill);
    // The sender holds at most its bound (+1 chunk), the paused receiver at most its bound (+1 chunk).
    expect(client.stats.maxBufferedBytes).toBeLessThanOrEqual(64 * 1024 + 8 * 1024 + 1);
    expect(written).toBeLessThanOrEqual(2 * (64 * 1024 + 8 * 1024));
    expect(client.bufferedBytes).toBeGreaterThan(0);
    const drained = new Promise<void>((r) => client.once('drain', () => r()));
    server.on('data', () => {});
    server.resume();
    await drained;
    client.disconnect('done');
  });

  it('closes an idle UDP flow; keep-alives keep a quiet TCP flow open', async () => {
    const opts = { udpIdleTimeoutMs: 150, tcpIdleTimeoutMs: 150, tcpKeepAliveIntervalMs: 40 };
    // The server's UDP timer is longer, so the client's is the one that fires (with equal timers either
    // side may be first, and the other then sees peer-disconnect).
    const udp = await pair(opts, { ...opts, udpIdleTimeoutMs: 5000 }, udpId);
    const tcp = await pair(opts);
    const end = await udp.client.done;
    expect(end.reason).toBe('idle');
    expect((await udp.server.done).reason).toBe('peer-disconnect');
    expect(tcp.client.closed || tcp.server.closed).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(tcp.client.closed || tcp.server.closed).toBe(false);
    tcp.client.disconnect('done');
  });

  it('ends the stream on a bad frame, with a log line carrying the conn id', async () => {
    const lines = memoryLogger();
    const { client, server, channels } = await pair({}, { log: lines });
    channels[0].inject(Buffer.of(99));
    const end = await server.done;
    expect(end.reason).toBe('protocol');
    expect(end.error?.message).toMatch(/unknown tunnel message code 99/);
    expect((await client.done).reason).toBe('peer-disconnect');
    expect(lines.lines.find((l) => l.message === 'stream end')?.fields).toMatchObject({
      connId: id.toString(),
      reason: 'protocol',
    });
  });

  it('splices two streams: data, half-close and dial outcome pass through', async () => {
    const left = await pair();
    const right = await pair();
    const spliced = splice(left.server, right.client);
    right.server.dialOk();
    expect(await left.client.dialed).toEqual({ ok: true });
    const atDialer = collect(right.server);
    const atOrigin = collect(left.client);
    right.server.on('end', () => {
      right.server.write(Buffer.from('pong'));
      right.server.end();
    });
    right.server.resume();
    left.client.resume();
    left.client.write(Buffer.from('ping'));
    left.client.end();
    expect((await atDialer).toString()).toBe('ping');
    expect((await atOrigin).toString()).toBe('pong');
    const ends = await spliced;
    expect(ends.map((e) => e.reason)).toEqual(['eof', 'eof']);
  });

  it('splice forwards a dial rejection with its reason', async () => {
    const left = await pair();
    const right = await pair();
    void splice(left.server, right.client);
    right.server.dialReject('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
    expect(await left.client.dialed).toEqual({
      ok: false,
      reason: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
    });
    const end = await left.client.done;
    expect(end.reason).toBe('dial-rejected');
    expect(end.error?.reason).toBe('ECONNREFUSED');
  });

  it('keeps checksums over many interleaved flows', async () => {
    const flows = await Promise.all(Array.from({ length: 50 }, () => pair({ maxChunkBytes: 1000 })));
    await Promise.all(
      flows.map(async ({ client, server }, i) => {
        const data = Buffer.alloc(1000 * i + 17, i);
        const got = collect(server);
        server.on('end', () => server.end());
        server.resume();
        client.resume();
        client.write(data);
        client.end();
        const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
        expect(sum(await got)).toBe(sum(data));
        await client.done;
      }),
    );
  });
});

describe('TunnelStream abort', () => {
  it('ends with aborted when the signal fires, and the peer sees the transport end', async () => {
    const ac = new AbortController();
    const { client, server } = await pair({ signal: ac.signal }, {});
    ac.abort();
    expect((await client.done).reason).toBe('aborted');
    expect((await server.done).reason).toBe('transport');
  });
});
