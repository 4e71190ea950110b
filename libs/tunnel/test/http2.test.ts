// Tunnel calls on node:http2 (Http2TunnelClient, serveTunnelCalls): gRPC framing, interop with grpc-js
// in both directions, statuses, malformed input, connection loss, keep-alive, reconnect.
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { ManagerService } from '@telepresence/rpc';
import fc from 'fast-check';
import dgram from 'node:dgram';
import http2 from 'node:http2';
import net from 'node:net';
import {
  ConnId,
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  TunnelError,
  acceptTunnel,
  dialerHandler,
  openTunnel,
  serveTunnelCalls,
  splice,
  tuneTunnelServer,
  withFastTunnelCodec,
  type FrameChannel,
  type TunnelCall,
  type TunnelClient,
} from '../src/index.js';
import { Frame } from '../src/protocol/frame.js';
import { type ChannelHandlers } from '../src/protocol/channel.js';
import { encodeMessage } from '../src/protocol/codec.js';
import { GrpcFramingError, GrpcMessageReader, http2ServerChannel } from '../src/transports/http2-channel.js';
import {
  connectGrpcClient,
  connectTcp,
  delay,
  forwardingListener,
  LateStream,
  randomBytes,
  readAll,
  sha256,
  startServer,
  tcpServer,
  type TcpServer,
  ignoreEndedBeforeOpen,
} from './harness.js';

const tunnelOnly = { tunnel: ManagerService.tunnel } as unknown as ServiceDefinition;

/** gRPC's 5-byte prefix in front of a body. */
const grpcMessage = (body: Buffer, compressed = 0): Buffer => {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
};

describe('GrpcMessageReader', () => {
  it('returns the same messages however the bytes are split into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(400), { maxLength: 10 }),
        (bodies, cuts) => {
          const wire = Buffer.concat(bodies.map((b) => grpcMessage(Buffer.from(b))));
          const got: Buffer[] = [];
          const reader = new GrpcMessageReader(1024, (m) => got.push(Buffer.from(m)));
          let at = 0;
          for (const cut of [...cuts.map((c) => Math.min(c, wire.length))].sort((a, b) => a - b)) {
            reader.push(wire.subarray(at, Math.max(at, cut)));
            at = Math.max(at, cut);
          }
          reader.push(wire.subarray(at));
          expect(got.map((b) => b.toString('hex'))).toEqual(
            bodies.map((b) => Buffer.from(b).toString('hex')),
          );
          expect(reader.atBoundary).toBe(true);
        },
      ),
    );
  });

  it('passes a message that came in one chunk on without copying it', () => {
    const wire = grpcMessage(Buffer.from('hello'));
    let got: Buffer | undefined;
    new GrpcMessageReader(64, (m) => (got = m)).push(wire);
    expect(got?.buffer).toBe(wire.buffer);
  });

  it('refuses compressed and oversize messages with the gRPC status to end the call with', () => {
    const reader = new GrpcMessageReader(16, () => {});
    expect(() => reader.push(grpcMessage(Buffer.alloc(3), 1))).toThrow(/compressed/);
    const big = new GrpcMessageReader(16, () => {});
    let err: unknown;
    try {
      big.push(grpcMessage(Buffer.alloc(17)).subarray(0, 5));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GrpcFramingError);
    expect((err as GrpcFramingError).message).toMatch(/17 bytes exceeds the 16-byte limit/);
  });
});

/** An echo target and a forwarding listener that tunnels to it with `client`. */
async function echoThrough(client: TunnelClient) {
  const target = await tcpServer((s) => s.pipe(s));
  const fwd = await forwardingListener(client, { ip: '127.0.0.1', port: target.port });
  const roundTrip = async (bytes: number) => {
    const payload = randomBytes(bytes);
    const app = await connectTcp(fwd.port);
    const answer = readAll(app);
    app.end(payload);
    expect(sha256(await answer)).toBe(sha256(payload));
    app.destroy();
  };
  return { target, fwd, roundTrip, close: () => Promise.all([fwd.close(), target.close()]) };
}

async function bind(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
}

describe('interop with grpc-js', () => {
  it('Http2TunnelClient works against a plain grpc-js server (no serveTunnelCalls)', async () => {
    const server = new Server();
    tuneTunnelServer(server);
    server.addService(withFastTunnelCodec(tunnelOnly), { tunnel: dialerHandler() });
    const port = await bind(server);
    const client = new Http2TunnelClient(`127.0.0.1:${port}`);
    const echo = await echoThrough(client);
    try {
      await echo.roundTrip(3 * 1024 * 1024 + 7);
      await echo.roundTrip(0);
      expect(echo.fwd.ends.map((e) => e.reason)).toEqual(['eof', 'eof']);
    } finally {
      client.close();
      await echo.close();
      server.forceShutdown();
    }
  });

  it('serveTunnelCalls takes Tunnel calls from grpc-js clients ahead of grpc-js; other methods stay', async () => {
    const server = new Server();
    const taken = { direct: 0, grpc: 0 };
    const dialer = dialerHandler();
    expect(
      serveTunnelCalls(server, MANAGER_TUNNEL_PATH, (ch) => {
        taken.direct++;
        dialer(ch);
      }),
    ).toBe(true);
    server.addService(withFastTunnelCodec(tunnelOnly), {
      tunnel: (call: TunnelCall) => {
        taken.grpc++;
        dialer(call);
      },
    });
    const port = await bind(server);
    const grpcClient = connectGrpcClient(port);
    const echo = await echoThrough(grpcClient);
    try {
      await echo.roundTrip(2 * 1024 * 1024);
      // An app that half-closes before sending anything (its FIN arrives before the pump starts).
      await echo.roundTrip(0);
      expect(taken).toEqual({ direct: 2, grpc: 0 });
      // Another path on the same connection still reaches grpc-js (here: UNIMPLEMENTED from grpc-js).
      const session = http2.connect(`http://127.0.0.1:${port}`);
      const other = session.request({
        ':method': 'POST',
        ':path': '/telepresence.manager.v1.Manager/Version',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      other.end();
      const headers = await new Promise<http2.IncomingHttpHeaders>((r) => other.on('response', r));
      other.resume();
      expect(headers['grpc-status']).toBe('12'); // UNIMPLEMENTED, grpc-js's answer for an unknown method
      session.destroy();
    } finally {
      grpcClient.close();
      await echo.close();
      server.forceShutdown();
    }
  });

  it('returns false and changes nothing on a grpc-js without the internals it needs', () => {
    expect(serveTunnelCalls({} as Server, MANAGER_TUNNEL_PATH, () => {})).toBe(false);
  });
});

/** Starts a raw HTTP/2 call to the tunnel path; resolves with the response's grpc-status and message. */
async function rawCall(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
): Promise<{ status: number; grpcStatus: string | undefined; message: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': MANAGER_TUNNEL_PATH, ...headers });
    req.on('error', () => {});
    req.end(body);
    const all: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => Object.assign(all, h));
    req.on('trailers', (t) => Object.assign(all, t));
    req.resume();
    await new Promise((r) => req.on('close', r));
    return {
      status: Number(all[':status']),
      grpcStatus: all['grpc-status'] as string | undefined,
      message: decodeURI(String(all['grpc-message'] ?? '')),
    };
  } finally {
    session.destroy();
  }
}

describe('serveTunnelCalls: malformed calls end alone, with a clear status', () => {
  it('compressed, oversize, non-gRPC and wrong-first-message calls; a healthy flow goes on', async () => {
    const grpc = await startServer(dialerHandler({ handshakeTimeoutMs: 2000 }));
    const client = new Http2TunnelClient(`127.0.0.1:${grpc.port}`);
    const echo = await echoThrough(client);
    const grpcHeaders = { 'content-type': 'application/grpc', te: 'trailers' };
    try {
      expect(await rawCall(grpc.port, grpcHeaders, grpcMessage(Buffer.alloc(4), 1))).toMatchObject({
        grpcStatus: '12',
        message: expect.stringMatching(/compressed tunnel messages are not supported/),
      });
      const huge = Buffer.alloc(5);
      huge.writeUInt32BE(64 * 1024 * 1024, 1);
      expect(await rawCall(grpc.port, grpcHeaders, huge)).toMatchObject({
        grpcStatus: '8', // RESOURCE_EXHAUSTED
        message: expect.stringMatching(/exceeds the 16777216-byte limit/),
      });
      expect(await rawCall(grpc.port, { 'content-type': 'text/plain' }, Buffer.from('hi'))).toMatchObject({
        status: 415,
      });
      expect(
        await rawCall(grpc.port, { ...grpcHeaders, 'grpc-encoding': 'gzip' }, Buffer.alloc(0)),
      ).toMatchObject({ grpcStatus: '12', message: expect.stringMatching(/grpc-encoding gzip/) });
      // A TunnelMessage whose payload is a DATA frame instead of OPEN.
      const data = encodeMessage({ type: 'data', data: Buffer.from('GET / HTTP/1.1\r\n') });
      const tunnelMessage = Buffer.concat([Buffer.from([0x0a, data.length]), data]);
      expect(await rawCall(grpc.port, grpcHeaders, grpcMessage(tunnelMessage))).toMatchObject({
        grpcStatus: '3', // INVALID_ARGUMENT
        message: expect.stringMatching(/first message must be OPEN, got DATA/),
      });
      // Not protobuf at all.
      expect(await rawCall(grpc.port, grpcHeaders, grpcMessage(Buffer.from([0x0a, 0xff])))).toMatchObject({
        message: expect.stringMatching(/TunnelMessage: truncated/),
      });
      await echo.roundTrip(1024 * 1024);
    } finally {
      client.close();
      await echo.close();
      await grpc.close();
    }
  });
});

/** A TCP proxy to `port` that can be frozen (forwards nothing more, closes nothing). */
async function freezableProxy(port: number): Promise<TcpServer & { freeze(): void }> {
  let frozen = false;
  const proxy = await tcpServer((a) => {
    const b = net.connect(port, '127.0.0.1');
    b.on('error', () => a.destroy());
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
    a.on('data', (d: Buffer) => frozen || b.write(d));
    b.on('data', (d: Buffer) => frozen || a.write(d));
  });
  return Object.assign(proxy, { freeze: () => (frozen = true) });
}

function startFlow(client: Http2TunnelClient, port: number) {
  return openTunnel(client, {
    id: ConnId.of('tcp', { ip: '127.0.0.1', port: 1 }, { ip: '127.0.0.1', port }),
    sessionId: 's',
    dialTimeoutMs: 2000,
  });
}

describe('Http2TunnelClient connection', () => {
  it('a connection that stops answering keep-alives fails its flows; the next flow reconnects', async () => {
    const grpc = await startServer(dialerHandler());
    const target = await tcpServer((s) => s.resume());
    const proxy = await freezableProxy(grpc.port);
    const client = new Http2TunnelClient(`127.0.0.1:${proxy.port}`, {
      keepAliveMs: 100,
      keepAliveTimeoutMs: 200,
    });
    try {
      const stream = await startFlow(client, target.port);
      expect(await stream.dialed).toEqual({ ok: true });
      stream.resume();
      proxy.freeze();
      const end = await stream.done;
      expect(end.reason).toBe('transport');
      expect(end.error?.message).toMatch(/did not answer a keep-alive in 200 ms/);
      // A new connection (through a new proxy socket, not frozen for it: freeze only stops old ones).
      const proxy2 = await freezableProxy(grpc.port);
      const client2 = new Http2TunnelClient(`127.0.0.1:${proxy2.port}`);
      const again = await startFlow(client2, target.port);
      expect(await again.dialed).toEqual({ ok: true });
      again.abort();
      client2.close();
      await proxy2.close();
    } finally {
      client.close();
      await Promise.all([proxy.close(), target.close(), grpc.close()]);
    }
  });

  it('after the server goes away, the next flow makes a new connection', async () => {
    const target = await tcpServer((s) => s.resume());
    const first = await startServer(dialerHandler());
    const port = first.port;
    const client = new Http2TunnelClient(`127.0.0.1:${port}`);
    try {
      const stream = await startFlow(client, target.port);
      expect(await stream.dialed).toEqual({ ok: true });
      stream.resume();
      first.server.forceShutdown();
      expect((await stream.done).reason).toBe('transport');
      // The same port again, as a restarted manager behind the same port-forward.
      const second = new Server();
      serveTunnelCalls(second, MANAGER_TUNNEL_PATH, dialerHandler());
      await new Promise<void>((resolve, reject) =>
        second.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e) =>
          e ? reject(e) : resolve(),
        ),
      );
      try {
        let again: Awaited<ReturnType<typeof startFlow>> | undefined;
        for (let i = 0; i < 20 && again === undefined; i++) {
          again = await startFlow(client, target.port).catch(() => delay(50).then(() => undefined));
        }
        expect(await again!.dialed).toEqual({ ok: true });
        again!.abort();
      } finally {
        second.forceShutdown();
      }
    } finally {
      client.close();
      await target.close();
    }
  });

  it('an unreachable manager fails flows with the connection error, and is not retried before a backoff', async () => {
    const closed = await tcpServer(() => {});
    const port = closed.port;
    await closed.close();
    let now = 1_000;
    const client = new Http2TunnelClient(`127.0.0.1:${port}`, {
      reconnectBackoffMs: { initial: 200, max: 300 },
      now: () => now,
      random: () => 0.5,
    });
    try {
      await expect(startFlow(client, 9)).rejects.toThrow(/ECONNREFUSED/);
      expect(client.connectionAttempts).toBe(1);
      // Within the backoff: failed at once, with the reason, and no new connection.
      await expect(startFlow(client, 9)).rejects.toThrow(
        /cannot reach the traffic-manager at 127\.0\.0\.1:\d+: connect ECONNREFUSED .* \(next try in 200 ms\)/,
      );
      expect(client.connectionAttempts).toBe(1);
      now += 200;
      await expect(startFlow(client, 9)).rejects.toThrow(/ECONNREFUSED/);
      expect(client.connectionAttempts).toBe(2);
      now += 299; // the backoff doubled (400 ms), capped at its maximum (300 ms)
      await expect(startFlow(client, 9)).rejects.toThrow(/next try in 1 ms/);
      // The manager is back: the next try connects and the backoff starts over.
      const grpc = await startServer(dialerHandler());
      const target = await tcpServer((s) => s.resume());
      const back = new Http2TunnelClient(`127.0.0.1:${grpc.port}`, { now: () => now });
      try {
        const stream = await startFlow(back, target.port);
        expect(await stream.dialed).toEqual({ ok: true });
        stream.abort();
      } finally {
        back.close();
        await Promise.all([grpc.close(), target.close()]);
      }
    } finally {
      client.close();
    }
  });

  it('connect() makes the connection ahead of the first flow, or says why it cannot', async () => {
    const grpc = await startServer(dialerHandler());
    const up = new Http2TunnelClient(`127.0.0.1:${grpc.port}`);
    const closed = await tcpServer(() => {});
    const port = closed.port;
    await closed.close();
    const down = new Http2TunnelClient(`127.0.0.1:${port}`);
    try {
      await up.connect();
      await up.connect(); // already up: at once, no new connection
      expect(up.connectionAttempts).toBe(1);
      await expect(down.connect()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      up.close();
      down.close();
      await grpc.close();
    }
  });

  it('runs on a byte stream it is given (a port-forward) instead of TCP: bytes intact both ways', async () => {
    const grpc = await startServer(dialerHandler());
    const echo = await tcpServer((s) => s.pipe(s));
    let made = 0;
    const client = new Http2TunnelClient('manager.invalid:1', {
      connection: () => {
        made++;
        return new LateStream(grpc.port);
      },
    });
    const listener = await forwardingListener(client, { ip: '127.0.0.1', port: echo.port });
    try {
      await client.connect();
      const sent = randomBytes(4 << 20);
      const socket = await connectTcp(listener.port);
      const back = readAll(socket);
      socket.end(sent);
      expect(sha256(await back)).toBe(sha256(sent));
      expect(made).toBe(1);
      expect(client.connectionAttempts).toBe(1);
    } finally {
      client.close();
      await Promise.all([listener.close(), echo.close(), grpc.close()]);
    }
  });

  it('a byte stream that cannot be made fails connect() and flows with its error, then backs off', async () => {
    const now = 1_000;
    const client = new Http2TunnelClient('manager.invalid:1', {
      connection: () =>
        new LateStream(new Error('the API server refused the port-forward: pods "x" not found')),
      now: () => now,
      random: () => 0.5,
    });
    try {
      await expect(client.connect()).rejects.toThrow(/refused the port-forward: pods "x" not found/);
      await expect(startFlow(client, 9)).rejects.toThrow(/next try in 200 ms/);
      expect(client.connectionAttempts).toBe(1);
    } finally {
      client.close();
    }
  });

  it('refuses new flows after close()', async () => {
    const client = new Http2TunnelClient('127.0.0.1:9');
    client.close();
    await expect(startFlow(client, 9)).rejects.toThrow(/is closed/);
  });
});

describe('Http2 channels end as FrameChannels must', () => {
  it('a server-side abort reaches the client as the status and message', async () => {
    const server = new Server();
    serveTunnelCalls(server, MANAGER_TUNNEL_PATH, (ch: FrameChannel) => {
      ch.start({ frame: () => {}, end: () => {}, error: () => {} });
      ch.send(Frame.of(Buffer.from([1, 2, 3])), () => {});
      setTimeout(() => ch.abort(new TunnelError('local', 'the agent went away')), 10);
    });
    server.addService(withFastTunnelCodec(tunnelOnly), { tunnel: () => {} });
    const port = await bind(server);
    const client = new Http2TunnelClient(`127.0.0.1:${port}`);
    try {
      const ch = client.openChannel();
      const got = await new Promise<{ frames: Buffer[]; err?: Error; ended?: true }>((resolve) => {
        const frames: Buffer[] = [];
        const h: ChannelHandlers = {
          frame: (f) => frames.push(Buffer.from(f.joined())),
          end: () => resolve({ frames, ended: true }),
          error: (err) => resolve({ frames, err }),
        };
        ch.start(h);
      });
      expect(got.frames).toEqual([Buffer.from([1, 2, 3])]);
      expect(got.err?.message).toBe('tunnel call failed: ABORTED: the agent went away');
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe('an aborted server call', () => {
  it('is reset when a client that does not read keeps its status from going out', async () => {
    const server = http2.createServer();
    let closedAfterMs = -1;
    server.on('stream', (stream) => {
      const ch = http2ServerChannel(stream, undefined, 300);
      ch.start({ frame: () => {}, end: () => {}, error: () => {} });
      // More than the client's 64 KiB window: the rest waits for a WINDOW_UPDATE that never comes.
      for (let i = 0; i < 8; i++) ch.send(Frame.of(Buffer.alloc(32 * 1024)), () => {});
      setTimeout(() => {
        const t0 = Date.now();
        stream.once('close', () => (closedAfterMs = Date.now() - t0));
        ch.abort(new TunnelError('idle', 'no traffic'));
      }, 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    try {
      const req = session.request({ ':method': 'POST', ':path': MANAGER_TUNNEL_PATH });
      req.on('error', () => {});
      req.pause(); // never reads
      await new Promise((r) => req.once('close', r));
      expect(closedAfterMs).toBeGreaterThanOrEqual(250);
      expect(closedAfterMs).toBeLessThan(3000);
      expect(req.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('frames that arrive in pieces (bigger than one 16 KiB HTTP/2 DATA frame)', () => {
  it('a UDP flow keeps datagram boundaries for datagrams of up to 60 KB', async () => {
    const grpc = await startServer(dialerHandler());
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, from) => echo.send(m, from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const client = new Http2TunnelClient(`127.0.0.1:${grpc.port}`);
    try {
      const udp = await openTunnel(client, {
        id: ConnId.of('udp', { ip: '127.0.0.1', port: 3 }, { ip: '127.0.0.1', port: echo.address().port }),
        sessionId: 's',
        dialTimeoutMs: 1000,
      });
      expect(await udp.dialed).toEqual({ ok: true });
      const sizes = [60_000, 17_000, 1, 40_000, 16_385];
      const got: number[] = [];
      const all = new Promise<void>((r) =>
        udp.on('data', (d) => {
          got.push(d.length);
          if (got.length === sizes.length) r();
        }),
      );
      udp.resume();
      for (const n of sizes) {
        udp.write(Buffer.alloc(n, 7));
        await delay(20); // loopback UDP keeps order; the pause keeps the echo's buffer from overflowing
      }
      await all;
      expect(got).toEqual(sizes);
      udp.abort();
    } finally {
      client.close();
      echo.close();
      await grpc.close();
    }
  });

  it('a splice between two HTTP/2 calls forwards them as they came: 6 MB each way, checksums match', async () => {
    const target = await tcpServer((s) => {
      void readAll(s).then((b) => s.end(Buffer.concat([Buffer.from(sha256(b)), b])));
    });
    const agent = await startServer(dialerHandler());
    const toAgent = new Http2TunnelClient(`127.0.0.1:${agent.port}`);
    const ends: string[] = [];
    const manager = await startServer((call) => {
      void acceptTunnel(call).then(async (inbound) => {
        const outbound = await openTunnel(toAgent, {
          id: inbound.id,
          sessionId: inbound.sessionId,
          dialTimeoutMs: inbound.dialTimeoutMs,
        });
        const [a, b] = await splice(inbound, outbound);
        ends.push(a.reason, b.reason);
      }, ignoreEndedBeforeOpen);
    });
    const client = new Http2TunnelClient(`127.0.0.1:${manager.port}`);
    const fwd = await forwardingListener(client, { ip: '127.0.0.1', port: target.port });
    try {
      const up = randomBytes(6 * 1024 * 1024);
      const app = await connectTcp(fwd.port);
      const answer = readAll(app);
      app.end(up);
      const got = await answer;
      expect(got.subarray(0, 64).toString()).toBe(sha256(up));
      expect(sha256(got.subarray(64))).toBe(sha256(up));
      await delay(50);
      expect(ends).toEqual(['eof', 'eof']);
      expect(fwd.ends.map((e) => e.reason)).toEqual(['eof']);
    } finally {
      client.close();
      toAgent.close();
      await Promise.all([fwd.close(), target.close()]);
      await Promise.all([manager.close(), agent.close()]);
    }
  });
});
