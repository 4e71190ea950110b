import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { memoryChannelPair } from '../protocol/memory-channel.js';
import { encodeData } from '../protocol/codec.js';
import { ConnId } from '../protocol/connid.js';
import { serveDialer } from './dialer.js';
import {
  DATA_HEADROOM,
  dataFrameInPlace,
  deserializeTunnelMessage,
  serializeTunnelMessage,
} from '../transports/grpc-codec.js';
import { acceptStream, openStream, type StreamOptions, type TunnelStream } from '../protocol/stream.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function target(onSocket: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** A flow to `port` through a memory pair whose acceptor is served by serveDialer (frame reads). */
async function dialedFlow(
  port: number,
  opts: StreamOptions,
): Promise<{ client: TunnelStream; dialer: TunnelStream }> {
  const [a, b] = memoryChannelPair();
  const id = ConnId.of('tcp', { ip: '127.0.0.1', port: 40000 }, { ip: '127.0.0.1', port });
  const [client, dialer] = await Promise.all([
    openStream(a, { id, sessionId: 's', dialTimeoutMs: 2000 }, opts),
    acceptStream(b, opts),
  ]);
  void serveDialer(dialer);
  const outcome = await client.dialed;
  expect(outcome.ok).toBe(true);
  return { client, dialer };
}

describe('frame reads', () => {
  it('builds DATA frames in place, byte-identical to the codec, across varint sizes', () => {
    for (const n of [1, 126, 127, 128, 16382, 16383, 16384, 65536, 131072, 2_097_150]) {
      const data = randomBytes(n);
      const buf = Buffer.alloc(DATA_HEADROOM + n);
      data.copy(buf, DATA_HEADROOM);
      const made = dataFrameInPlace(buf, n);
      const [chunk, frame, wire] = [made.data[0]!, made.bytes!, made.wire as Buffer];
      expect(chunk.equals(data)).toBe(true);
      expect(frame.equals(encodeData(data))).toBe(true);
      expect(wire.equals(serializeTunnelMessage({ payload: encodeData(data) }))).toBe(true);
      expect(deserializeTunnelMessage(wire).payload.equals(frame)).toBe(true);
    }
    expect(() => dataFrameInPlace(Buffer.alloc(DATA_HEADROOM + 2_097_151), 2_097_151)).toThrow(RangeError);
  });

  it('the dialer sends what its socket reads, in frames up to maxChunkBytes, then half-closes', async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const t = await target((s) => s.end(payload));
    try {
      const { client } = await dialedFlow(t.port, { maxChunkBytes: 64 * 1024 });
      const chunks: Buffer[] = [];
      client.on('data', (c) => chunks.push(Buffer.from(c)));
      const ended = new Promise<void>((r) => client.on('end', () => r()));
      client.resume();
      await ended;
      client.end();
      expect((await client.done).reason).toBe('eof');
      expect(sha(Buffer.concat(chunks))).toBe(sha(payload));
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    } finally {
      t.close();
    }
  });

  it('small reads (interactive echo) go through one by one', async () => {
    const t = await target((s) => s.pipe(s));
    try {
      const { client } = await dialedFlow(t.port, {});
      let got = Buffer.alloc(0);
      client.on('data', (c) => (got = Buffer.concat([got, c])));
      client.resume();
      for (let i = 0; i < 20; i++) {
        const msg = Buffer.alloc(64, i);
        client.write(msg);
        while (got.length < 64) await new Promise((r) => setTimeout(r, 1));
        expect(got.subarray(0, 64).equals(msg)).toBe(true);
        got = got.subarray(64);
      }
      client.disconnect('done');
    } finally {
      t.close();
    }
  });

  it('a reader that does not read holds the dialer to its bound plus one read', async () => {
    const bound = 256 * 1024;
    const maxChunkBytes = 128 * 1024;
    let stop = false;
    const t = await target((s) => {
      const block = Buffer.alloc(64 * 1024, 3);
      const fill = () => {
        while (!stop && s.write(block));
      };
      s.on('drain', fill);
      fill();
    });
    try {
      // The client never resumes: it holds `bound` bytes, then stops taking frames.
      const { client, dialer } = await dialedFlow(t.port, { maxBufferedBytes: bound, maxChunkBytes });
      // Wait until the dialer stops sending (bounded wait: a loaded machine may take a while to fill).
      let last = -1;
      for (let i = 0; i < 30 && dialer.stats.bytesSent !== last; i++) {
        last = dialer.stats.bytesSent;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(dialer.stats.bytesSent).toBe(last); // stopped reading the socket
      expect(last).toBeGreaterThanOrEqual(bound); // after filling what the client holds
      expect(dialer.stats.maxBufferedBytes).toBeLessThanOrEqual(bound + maxChunkBytes + 1);
      stop = true;
      client.disconnect('done');
      await dialer.done;
    } finally {
      t.close();
    }
  }, 15_000);
});
