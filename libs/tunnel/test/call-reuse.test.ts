// More than one flow on one Tunnel call (call-reuse.ts): when both ends offer it, a flow that ended cleanly
// leaves its call for the next one; a failed flow, a changed token, an old call or a peer that does not
// offer it gets a call of its own, as before.
import { jest } from '@jest/globals';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import {
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  type FrameChannel,
  type TunnelStream,
} from '../src/index.js';
import { acceptStream, openStream } from '../src/protocol/stream.js';
import { decodeMessage, encodeMessage, type Message } from '../src/protocol/codec.js';
import {
  REUSE_HEADER,
  REUSE_MESSAGE,
  SERVER_REUSE_MAX_AGE_MS,
  isReuseMessage,
  type Recycle,
} from '../src/transports/call-reuse.js';
import { deserializeTunnelMessage, serializeTunnelMessage } from '../src/transports/grpc-codec.js';
import {
  GrpcMessageReader,
  http2ClientChannel,
  http2ServerChannel,
} from '../src/transports/http2-channel.js';
import type { Http2TunnelClientOptions } from '../src/transports/http2-client.js';
import { echoOn, flowInit, ignoreEndedBeforeOpen, until } from './harness.js';

interface Served {
  /** HTTP/2 requests the server got. */
  calls: { stream: ServerHttp2Stream; headers: IncomingHttpHeaders }[];
  /** Flows (channels) it served, with the authorization of the call each came on. */
  flows: (string | undefined)[];
  /** Handshake failures other than a call ended before its OPEN. */
  failures: Error[];
  client: Http2TunnelClient;
  port: number;
  close(): Promise<void>;
}

/**
 * A node:http2 server whose calls are served as serveTunnelCalls serves them (a reused call's next flow
 * goes to the same handler); `dial` answers each flow. `reuse: false`: a server that does not offer it.
 */
async function server(
  dial: (s: TunnelStream, flow: number) => void,
  opts: { reuse?: boolean; client?: Http2TunnelClientOptions } = {},
): Promise<Served> {
  const served: Omit<Served, 'client' | 'port' | 'close'> = { calls: [], flows: [], failures: [] };
  const onChannel = (channel: FrameChannel, headers: IncomingHttpHeaders): void => {
    acceptStream(channel)
      .then((s) => {
        served.flows.push(headers.authorization);
        dial(s, served.flows.length);
      })
      .catch((e: unknown) => {
        try {
          ignoreEndedBeforeOpen(e);
        } catch (err) {
          served.failures.push(err as Error);
        }
      });
  };
  const s = http2.createServer();
  s.on('stream', (stream, headers) => {
    served.calls.push({ stream, headers });
    const recycle: Recycle | undefined =
      opts.reuse === false ? undefined : (next) => onChannel(next(), headers);
    onChannel(http2ServerChannel(stream, undefined, undefined, headers, recycle), headers);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  const client = new Http2TunnelClient(`127.0.0.1:${port}`, opts.client);
  return {
    ...served,
    client,
    port,
    close: async () => {
      client.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/** One flow on the client: sends `text`, half-closes, returns what came back once the flow closed. */
async function flow(client: Http2TunnelClient, text: string): Promise<{ echoed: string; reason: string }> {
  const s = await openStream(client.openChannel(), flowInit());
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
  s.resume();
  s.write(Buffer.from(text));
  s.end();
  const end = await s.done;
  return { echoed: Buffer.concat(got).toString(), reason: end.reason };
}

describe('call reuse', () => {
  it('flows in a row run on one call, each with every byte, and the server sees each as a flow', async () => {
    const srv = await server((s) => echoOn(s));
    try {
      for (let i = 0; i < 30; i++) {
        const big = `flow ${i} `.repeat(20_000); // 180 KB: more than one HTTP/2 DATA frame each way
        expect(await flow(srv.client, big)).toEqual({ echoed: big, reason: 'eof' });
      }
      expect(srv.flows).toHaveLength(30);
      expect(srv.client.callsReused).toBe(29);
      // The first call, plus the one request made ahead (a spare) that no flow needed.
      expect(srv.calls.length).toBeLessThanOrEqual(2);
      expect(srv.calls[0]!.headers[REUSE_HEADER]).toBe('1');
      expect(srv.failures).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('concurrent flows park their calls and the next round takes them; nothing crosses flows', async () => {
    const srv = await server((s) => echoOn(s));
    try {
      for (let round = 0; round < 4; round++) {
        const texts = Array.from({ length: 24 }, (_, i) => `round ${round} flow ${i} `.repeat(500 + i * 37));
        const got = await Promise.all(texts.map((t) => flow(srv.client, t)));
        expect(got).toEqual(texts.map((t) => ({ echoed: t, reason: 'eof' })));
      }
      expect(srv.flows).toHaveLength(96);
      expect(srv.client.callsReused).toBeGreaterThanOrEqual(16 * 3); // MAX_PARKED_CALLS per later round
      expect(srv.failures).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it("a refused dial's call is reused: what the client sent for it before the refusal is dropped", async () => {
    // Flow 1 is refused after 30 ms; its client keeps sending meanwhile, so some of its frames reach the
    // server after the server offered the call again. They must not be taken for the next flow's start.
    const srv = await server((s, n) =>
      n === 1 ? setTimeout(() => s.dialReject('ECONNREFUSED', 'refused'), 30) : echoOn(s),
    );
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      s.resume();
      const sending = setInterval(() => s.write(Buffer.alloc(8 * 1024, 1)), 1);
      expect((await s.done).reason).toBe('dial-rejected');
      clearInterval(sending);
      await until(() => srv.client.parkedCalls === 1);
      for (let i = 0; i < 5; i++)
        expect(await flow(srv.client, `after ${i}`)).toEqual({ echoed: `after ${i}`, reason: 'eof' });
      expect(srv.client.callsReused).toBe(5);
      expect(srv.failures).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a failed flow ends its call: the next flow makes a request of its own', async () => {
    const srv = await server((s, n) => (n === 1 ? s.abort() : echoOn(s)));
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      s.resume();
      expect((await s.done).reason).toBe('transport');
      expect(await flow(srv.client, 'next')).toEqual({ echoed: 'next', reason: 'eof' });
      expect(srv.client.callsReused).toBe(0);
      expect(srv.calls.length).toBeGreaterThanOrEqual(2);
    } finally {
      await srv.close();
    }
  });

  it('a parked call not used within the spare TTL is cancelled on both ends, quietly', async () => {
    const srv = await server((s) => echoOn(s), { client: { spareTtlMs: 100 } });
    try {
      expect(await flow(srv.client, 'one')).toEqual({ echoed: 'one', reason: 'eof' });
      const first = srv.calls[0]!.stream;
      await until(() => first.closed);
      expect(await flow(srv.client, 'two')).toEqual({ echoed: 'two', reason: 'eof' });
      expect(srv.client.callsReused).toBe(0);
      expect(srv.failures).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a new token is used by the next flow: a call made with the old one is not reused', async () => {
    let token = 'Bearer one';
    const srv = await server((s) => echoOn(s), { client: { headers: () => ({ authorization: token }) } });
    try {
      expect((await flow(srv.client, 'a')).echoed).toBe('a');
      expect((await flow(srv.client, 'b')).echoed).toBe('b');
      token = 'Bearer two';
      expect((await flow(srv.client, 'c')).echoed).toBe('c');
      expect((await flow(srv.client, 'd')).echoed).toBe('d');
      expect(srv.flows).toEqual(['Bearer one', 'Bearer one', 'Bearer two', 'Bearer two']);
    } finally {
      await srv.close();
    }
  });

  it('a call older than the client reuses calls for gets no more flows', async () => {
    let now = 1_000_000;
    const srv = await server((s) => echoOn(s), { client: { now: () => now } });
    try {
      expect((await flow(srv.client, 'a')).echoed).toBe('a');
      expect((await flow(srv.client, 'b')).echoed).toBe('b');
      expect(srv.client.callsReused).toBe(1);
      now += 31_000;
      expect((await flow(srv.client, 'c')).echoed).toBe('c');
      expect(srv.client.callsReused).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('a server offers a call again only within its age limit: an older call ends with its flow', async () => {
    const realNow = Date.now;
    let skew = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    // The client keeps the real clock: its own age limit (30 s) is not under test here.
    // A long spare TTL: the call may only end because the server ended it.
    const srv = await server((s) => echoOn(s), { client: { now: () => realNow(), spareTtlMs: 60_000 } });
    try {
      expect((await flow(srv.client, 'a')).echoed).toBe('a');
      await until(() => srv.client.parkedCalls === 1);
      expect((await flow(srv.client, 'b')).echoed).toBe('b');
      await until(() => srv.client.parkedCalls === 1);
      expect(srv.client.callsReused).toBe(1);
      skew = SERVER_REUSE_MAX_AGE_MS; // the server's call is now too old to offer again
      expect((await flow(srv.client, 'c')).echoed).toBe('c'); // still runs on it: the offer was made
      const first = srv.calls[0]!.stream;
      await until(() => first.closed, 1000); // ended with its flow instead of being offered again
      expect(srv.client.parkedCalls).toBe(0);
      expect((await flow(srv.client, 'd')).echoed).toBe('d');
      expect(srv.client.callsReused).toBe(2);
      expect(srv.failures).toEqual([]);
    } finally {
      clock.mockRestore();
      await srv.close();
    }
  });

  it('a server that does not offer reuse ends every call, and the client makes one per flow', async () => {
    const srv = await server((s) => echoOn(s), { reuse: false });
    try {
      for (let i = 0; i < 5; i++)
        expect(await flow(srv.client, `x${i}`)).toEqual({ echoed: `x${i}`, reason: 'eof' });
      expect(srv.client.callsReused).toBe(0);
      await until(() => srv.calls.slice(0, 5).every((c) => c.stream.closed));
    } finally {
      await srv.close();
    }
  });

  it('a client that did not ask for reuse gets its call ended with an OK status after its flow', async () => {
    const srv = await server((s) => echoOn(s));
    const older = http2.connect(`http://127.0.0.1:${srv.port}`);
    try {
      const req = older.request({
        ':method': 'POST',
        ':path': MANAGER_TUNNEL_PATH,
        'content-type': 'application/grpc',
      });
      const trailers = new Promise<IncomingHttpHeaders>((r) => req.once('trailers', r));
      const response = new Promise<IncomingHttpHeaders>((r) => req.once('response', r));
      const s = await openStream(http2ClientChannel(req), flowInit());
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
      s.resume();
      s.write(Buffer.from('old'));
      s.end();
      expect((await s.done).reason).toBe('eof');
      expect(Buffer.concat(got).toString()).toBe('old');
      expect((await response)[REUSE_HEADER]).toBeUndefined();
      expect((await trailers)['grpc-status']).toBe('0');
    } finally {
      older.destroy();
      await srv.close();
    }
  });
});

describe('call reuse: messages split across reads', () => {
  /** A gRPC message (prefix and TunnelMessage) for a tunnel frame, or for REUSE_MESSAGE. */
  const grpc = (serialized: Buffer): Buffer => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(serialized.length, 1);
    return Buffer.concat([prefix, serialized]);
  };
  const frame = (m: Message): Buffer => grpc(serializeTunnelMessage({ payload: encodeMessage(m) }));
  const open = (): Buffer => {
    const i = flowInit();
    return frame({
      type: 'open',
      version: 1,
      minVersion: 1,
      id: i.id,
      sessionId: i.sessionId,
      dialTimeoutMs: 1000,
      roundtripLatencyMs: 0,
    });
  };
  /** What a raw peer read: the message types, 'reuse' for REUSE_MESSAGE. */
  const readTypes = (into: string[]): GrpcMessageReader =>
    new GrpcMessageReader(1 << 20, (m) =>
      into.push(isReuseMessage(m) ? 'reuse' : decodeMessage(deserializeTunnelMessage(m).payload).type),
    );
  /** Writes `bytes` as two HTTP/2 DATA frames, a turn of the event loop apart. */
  const writeSplit = async (s: { write(b: Buffer): boolean }, bytes: Buffer, at: number): Promise<void> => {
    s.write(bytes.subarray(0, at));
    await new Promise((r) => setTimeout(r, 20));
    s.write(bytes.subarray(at));
  };

  it('a server takes the next OPEN when it comes in two pieces', async () => {
    const srv = await server((s) => echoOn(s));
    const raw = http2.connect(`http://127.0.0.1:${srv.port}`);
    try {
      const req = raw.request({
        ':method': 'POST',
        ':path': MANAGER_TUNNEL_PATH,
        'content-type': 'application/grpc',
        [REUSE_HEADER]: '1',
      });
      const got: string[] = [];
      const reader = readTypes(got);
      req.on('data', (c: Buffer) => reader.push(c));
      req.write(open());
      await until(() => got.includes('dial-ok'));
      req.write(frame({ type: 'close-send' }));
      await until(() => got.includes('reuse'));
      await writeSplit(req, open(), 7);
      await until(() => got.filter((t) => t === 'dial-ok').length === 2, 2000);
      expect(srv.flows).toHaveLength(2);
      expect(srv.calls).toHaveLength(1);
    } finally {
      raw.destroy();
      await srv.close();
    }
  });

  it('a client parks its call when REUSE_MESSAGE comes in two pieces', async () => {
    const s = http2.createServer();
    s.on('stream', (stream: ServerHttp2Stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', [REUSE_HEADER]: '1' });
      const got: string[] = [];
      const reader = readTypes(got);
      stream.on('data', (c: Buffer) => {
        reader.push(c);
        if (got.at(-1) === 'open') {
          got.push('answered');
          stream.write(Buffer.concat([frame({ type: 'open-ok', version: 1 }), frame({ type: 'dial-ok' })]));
        } else if (got.at(-1) === 'close-send') {
          got.push('closed');
          stream.write(frame({ type: 'close-send' }));
          void writeSplit(stream, grpc(REUSE_MESSAGE), 6);
        }
      });
    });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const client = new Http2TunnelClient(`127.0.0.1:${(s.address() as AddressInfo).port}`);
    try {
      const flowStream = await openStream(client.openChannel(), flowInit());
      flowStream.resume();
      flowStream.end();
      expect((await flowStream.done).reason).toBe('eof');
      await until(() => client.parkedCalls === 1, 2000);
    } finally {
      client.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
