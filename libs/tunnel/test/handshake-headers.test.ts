// The handshake in HTTP/2 HEADERS (handshake-headers.ts): what goes in which headers, the DATA handshake
// with peers that do not advertise it (both ways), dial results from a spliced peer, version mismatch,
// and a new flow's dial answer arriving ahead of the bulk data queued on the connection before it.
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import {
  ConnId,
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  splice,
  type TunnelError,
  type FrameChannel,
  type TunnelStream,
} from '../src/index.js';
import { decodeMessage } from '../src/protocol/codec.js';
import { acceptStream, openStream, type StreamOptions } from '../src/protocol/stream.js';
import {
  ANSWERS_HEADER,
  FRAMES_HEADER,
  OPEN_HEADER,
  TRAILER_FRAMES_HEADER,
} from '../src/transports/handshake-headers.js';
import { DeferredEnds, END_LINGER_MS } from '../src/transports/deferred-ends.js';
import { http2ClientChannel, http2ServerChannel } from '../src/transports/http2-channel.js';
import { type Http2TunnelClientOptions } from '../src/transports/http2-client.js';
import { LateStream, echoOn, flowInit, ignoreEndedBeforeOpen, until } from './harness.js';
import { TUNNEL_SESSION_MEMORY_MB } from '../src/transports/flow-control.js';

interface Call {
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  channel: FrameChannel;
}

/** A plain node:http2 server whose calls are http2ServerChannels, as serveTunnelCalls makes them. */
async function server(onCall: (call: Call) => void, clientOptions: Http2TunnelClientOptions = {}) {
  const calls: Call[] = [];
  const s = http2.createServer({ maxSessionMemory: TUNNEL_SESSION_MEMORY_MB });
  s.on('stream', (stream, headers) => {
    const call = { stream, headers, channel: http2ServerChannel(stream, undefined, undefined, headers) };
    calls.push(call);
    onCall(call);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  const client = new Http2TunnelClient(`127.0.0.1:${port}`, clientOptions);
  /** A client that does not advertise (an older peer): handshake in DATA. */
  const older = http2.connect(`http://127.0.0.1:${port}`);
  older.on('error', () => {});
  const olderChannel = (): FrameChannel =>
    http2ClientChannel(
      older.request({ ':method': 'POST', ':path': MANAGER_TUNNEL_PATH, 'content-type': 'application/grpc' }),
    );
  return {
    calls,
    client,
    port,
    olderChannel,
    close: async () => {
      client.destroy();
      older.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/** The tunnel messages in a `-bin` header, by name ('open-ok', 'dial-ok', ...). */
function messagesIn(headers: Record<string, unknown> | undefined): string[] {
  const v = headers?.[FRAMES_HEADER];
  if (v === undefined) return [];
  const parts = (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(','));
  return parts.map((p) => decodeMessage(Buffer.from(p.trim(), 'base64')).type);
}

/**
 * acceptStream for these servers. The client makes a request ahead for its next flow (a spare,
 * http2-client.ts) and cancels it when destroyed: that call never gets an OPEN, and never settles here.
 */
function accept(channel: FrameChannel, options?: StreamOptions): Promise<TunnelStream> {
  return acceptStream(channel, options).catch((e: unknown) => {
    ignoreEndedBeforeOpen(e);
    return new Promise<never>(() => {});
  });
}

/** Accepts, answers DIAL_OK at once, echoes. */
function echoDialer({ channel }: Call): void {
  void accept(channel).then(echoOn);
}

async function echo(s: TunnelStream, text: string): Promise<string> {
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
  const ended = new Promise<void>((r) => s.once('end', () => r()));
  s.resume();
  s.write(Buffer.from(text));
  s.end();
  await ended;
  return Buffer.concat(got).toString();
}

describe('the handshake in HTTP/2 headers', () => {
  it('OPEN rides in the request, OPEN_OK in a 103 and DIAL_OK in the response; data follows as before', async () => {
    const srv = await server(echoDialer);
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      expect(await s.dialed).toEqual({ ok: true });
      expect(await echo(s, 'hello')).toBe('hello');
      expect((await s.done).reason).toBe('eof');
      const [call] = srv.calls;
      expect(call!.headers[OPEN_HEADER]).toBeDefined();
      const info = (call!.stream as unknown as { sentInfoHeaders?: Record<string, unknown>[] })
        .sentInfoHeaders;
      expect(info?.map((h) => [h[':status'], messagesIn(h)])).toEqual([[103, ['open-ok']]]);
      expect(messagesIn(call!.stream.sentHeaders)).toEqual(['dial-ok']);
    } finally {
      await srv.close();
    }
  });

  it('a far side that speaks at once (a greeting): its data comes after OPEN_OK and DIAL_OK on a connection that is not a socket', async () => {
    // Accepts, answers DIAL_OK and greets in the same tick: the 103, the response and the DATA arrive in
    // one read. On a connection that is not a net.Socket (the port-forward's WebSocket stream), node:http2
    // processes that read inside a JavaScript call, so the headers events (always on the next tick) came
    // after the 'data' event: "expected OPEN_OK, got DATA" on the first flow to a server that greets
    // (e2e client.test 7 after the tunnel moved onto the port-forward stream, 2 of 4 runs).
    const srv = await server(({ channel }) => {
      void accept(channel).then((s) => {
        s.dialOk();
        s.write(Buffer.from('greeting\n'));
        s.end();
        s.resume();
      });
    });
    const client = new Http2TunnelClient('manager.invalid:1', {
      connection: () => new LateStream(srv.port),
    });
    try {
      for (let i = 0; i < 5; i++) {
        const s = await openStream(client.openChannel(), flowInit());
        expect(await s.dialed).toEqual({ ok: true });
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
        s.resume();
        s.end();
        expect((await s.done).reason).toBe('eof');
        expect(Buffer.concat(got).toString()).toBe('greeting\n');
      }
    } finally {
      client.destroy();
      await srv.close();
    }
  });

  it('DIAL_REJECT goes in the response headers and ends the flow with its reason', async () => {
    const srv = await server(({ channel }) => {
      void accept(channel).then((s) => s.dialReject('ECONNREFUSED', 'nothing listens'));
    });
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      expect(await s.dialed).toEqual({ ok: false, reason: 'ECONNREFUSED', message: 'nothing listens' });
      expect((await s.done).reason).toBe('dial-rejected');
      expect(messagesIn(srv.calls[0]!.stream.sentHeaders)).toEqual(['dial-reject']);
    } finally {
      await srv.close();
    }
  });

  it('a client that does not advertise it gets the handshake in DATA', async () => {
    const srv = await server(echoDialer);
    try {
      const s = await openStream(srv.olderChannel(), flowInit());
      expect(await s.dialed).toEqual({ ok: true });
      expect(await echo(s, 'older client')).toBe('older client');
      const [call] = srv.calls;
      expect(call!.headers[OPEN_HEADER]).toBeUndefined();
      expect(messagesIn(call!.stream.sentHeaders)).toEqual([]);
      expect((call!.stream as unknown as { sentInfoHeaders?: unknown[] }).sentInfoHeaders ?? []).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a server that ignores the header takes the OPEN the client also sends in DATA', async () => {
    // The server channel is made without the request headers: an older server.
    const s2 = http2.createServer();
    s2.on('stream', (stream) => echoDialer({ stream, headers: {}, channel: http2ServerChannel(stream) }));
    await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
    const client = new Http2TunnelClient(`127.0.0.1:${(s2.address() as AddressInfo).port}`);
    try {
      const s = await openStream(client.openChannel(), flowInit());
      expect(await s.dialed).toEqual({ ok: true });
      expect(await echo(s, 'older server')).toBe('older server');
    } finally {
      client.destroy();
      await new Promise<void>((r) => s2.close(() => r()));
    }
  });

  it('a version mismatch fails both ends with "version" (OPEN_OK early, DISCONNECT in the response)', async () => {
    const accepted: Promise<unknown>[] = [];
    const srv = await server(({ channel }) => accepted.push(acceptStream(channel).catch((e: unknown) => e)));
    try {
      await expect(
        openStream(srv.client.openChannel(), flowInit(), { versionRange: [5, 6] }),
      ).rejects.toMatchObject({
        code: 'version',
      });
      expect(await accepted[0]).toMatchObject({ code: 'version' });
    } finally {
      await srv.close();
    }
  });

  it('a DIAL_OK from a spliced peer (an agent, handshake in DATA) reaches the client in the response headers', async () => {
    const streams: TunnelStream[] = [];
    let spliced!: Promise<unknown>;
    const srv = await server(({ channel }) => {
      void accept(channel).then((s) => {
        streams.push(s);
        if (streams.length === 2) spliced = splice(streams[0]!, streams[1]!);
      });
    });
    try {
      const id = flowInit();
      const client = await openStream(srv.client.openChannel(), id);
      // The agent opens the matching stream (the manager asked it to), dials, and answers DIAL_OK.
      const agent = await openStream(srv.olderChannel(), id);
      agent.on('data', (c: Buffer) => agent.write(Buffer.from(c)));
      agent.on('end', () => agent.end());
      agent.resume();
      agent.dialOk();
      expect(await client.dialed).toEqual({ ok: true });
      expect(await echo(client, 'via the agent')).toBe('via the agent');
      await spliced;
      const [clientCall, agentCall] = srv.calls;
      expect(messagesIn(clientCall!.stream.sentHeaders)).toEqual(['dial-ok']);
      expect(messagesIn(agentCall!.stream.sentHeaders)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it("a new flow's dial answer arrives ahead of the bulk data queued before it on the connection", async () => {
    const BULK_FLOWS = 4;
    const PER_FLOW = 8 * 1024 * 1024;
    const WINDOW = 1024 * 1024; // the client's connection window grows (BDP) to this at most
    const chunk = Buffer.alloc(128 * 1024, 7);
    const srv = await server(
      ({ channel }) => {
        void accept(channel, { maxBufferedBytes: 64 * 1024 * 1024 }).then((s) => {
          s.dialOk();
          if (s.id.destination.port === 81) return; // the probe: dial answer only
          for (let n = 0; n < PER_FLOW; n += chunk.length) s.write(chunk); // all queued at once
        });
      },
      { connectionWindowBytes: WINDOW },
    );
    try {
      let bulkReceived = 0;
      let firstBulk!: () => void;
      const bulkFlowing = new Promise<void>((r) => (firstBulk = r));
      for (let i = 0; i < BULK_FLOWS; i++) {
        const s = await openStream(srv.client.openChannel(), flowInit());
        s.on('data', (c: Buffer) => {
          bulkReceived += c.length;
          firstBulk();
        });
        s.resume();
      }
      await bulkFlowing;
      const atOpen = bulkReceived;
      const probe = await openStream(srv.client.openChannel(), {
        ...flowInit(),
        id: ConnId.of('tcp', { ip: '127.0.0.1', port: 1 }, { ip: '198.18.0.1', port: 81 }),
      });
      expect(await probe.dialed).toEqual({ ok: true });
      const behind = bulkReceived - atOpen;
      const total = BULK_FLOWS * PER_FLOW;
      // Meaningful only while most of the bulk was still queued when the probe opened.
      expect(total - atOpen).toBeGreaterThan(total / 2);
      // Behind the answer: at most what was in flight (the connection window), not the queue.
      expect(behind).toBeLessThanOrEqual(WINDOW + chunk.length);
    } finally {
      await srv.close();
    }
  });
  it('the next flow goes out on a request made ahead (a spare): OPEN in DATA, the answers still in headers', async () => {
    const srv = await server(echoDialer);
    try {
      const first = await openStream(srv.client.openChannel(), flowInit());
      expect(await echo(first, 'one')).toBe('one');
      await until(() => srv.calls.length === 2); // the spare, made after the first flow's answer
      const spare = srv.calls[1]!;
      expect(spare.headers[ANSWERS_HEADER]).toBe('headers');
      expect(spare.headers[OPEN_HEADER]).toBeUndefined();
      const second = await openStream(srv.client.openChannel(), flowInit());
      expect(srv.client.sparesUsed).toBe(1);
      expect(await second.dialed).toEqual({ ok: true });
      expect(await echo(second, 'two')).toBe('two');
      const info = (spare.stream as unknown as { sentInfoHeaders?: Record<string, unknown>[] })
        .sentInfoHeaders;
      expect(info?.map((h) => [h[':status'], messagesIn(h)])).toEqual([[103, ['open-ok']]]);
      expect(messagesIn(spare.stream.sentHeaders)).toEqual(['dial-ok']);
    } finally {
      await srv.close();
    }
  });

  it('the spare is made once a flow is answered, not while the server dials for it', async () => {
    const dials: (() => void)[] = []; // each flow's dial, finished when called
    const srv = await server(({ channel, headers }) => {
      void accept(channel, { deferOpenOk: true }).then((s) => {
        if (headers['x-confirm'] !== undefined) s.confirmOpen(); // OPEN_OK alone, in a 103
        dials.push(() => echoOn(s));
      });
    });
    const confirming = new Http2TunnelClient(`127.0.0.1:${srv.port}`, {
      headers: () => ({ 'x-confirm': '1' }),
    });
    try {
      const opening = openStream(srv.client.openChannel(), flowInit()); // OPEN_OK comes with DIAL_OK
      await until(() => dials.length === 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(srv.calls).toHaveLength(1); // no HEADERS for the server to handle while it dials
      dials[0]!();
      expect(await (await opening).dialed).toEqual({ ok: true });
      await until(() => srv.calls.length === 2);
      expect(srv.calls[1]!.headers[ANSWERS_HEADER]).toBe('headers');

      // OPEN_OK in a 103 ahead of the dial (agents' flows, UDP) is an answer too.
      const c = await openStream(confirming.openChannel(), flowInit());
      await until(() => srv.calls.length === 4); // its own call, then its spare, while the dial waits
      expect(srv.calls[3]!.headers[ANSWERS_HEADER]).toBe('headers');
      expect(dials).toHaveLength(2);
      dials[1]!();
      expect(await c.dialed).toEqual({ ok: true });
    } finally {
      confirming.destroy();
      await srv.close();
    }
  });

  it('a spare nobody uses is cancelled after its time, and an idle client makes no other', async () => {
    const ended: string[] = [];
    const srv = await server(
      ({ channel }) => {
        acceptStream(channel).then(echoOn, (e: unknown) => ended.push((e as TunnelError).code));
      },
      { spareTtlMs: 200 },
    );
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      expect(await echo(s, 'x')).toBe('x');
      await until(() => ended.length === 1);
      expect(ended).toEqual(['transport']); // the call ended before any OPEN: the manager logs it at debug
      await new Promise((r) => setTimeout(r, 500));
      expect(srv.calls).toHaveLength(2);
    } finally {
      await srv.close();
    }
  });

  it("while the connection's send window is used up, a new flow makes its own request with OPEN in headers", async () => {
    // A relay that stops passing the client's bytes on: the server takes nothing more, so the client's
    // connection window (64 KiB, the server's default) runs out under an upload. An OPEN in DATA would
    // wait for it; one in HEADERS does not.
    const srv = await server(echoDialer);
    let toServer: net.Socket | undefined;
    const relay = net.createServer((c) => {
      const up = net.connect(srv.port, '127.0.0.1');
      toServer = c;
      c.pipe(up).pipe(c);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const client = new Http2TunnelClient('127.0.0.1:1', {
      connection: () => net.connect((relay.address() as AddressInfo).port, '127.0.0.1'),
    });
    try {
      const upload = await openStream(client.openChannel(), flowInit());
      await upload.dialed;
      await until(() => srv.calls.length === 2); // the spare is there
      toServer!.pause();
      upload.resume();
      for (let i = 0; i < 8; i++) upload.write(Buffer.alloc(32 * 1024, 1));
      const session = (client as unknown as { session: http2.ClientHttp2Session }).session;
      await until(() => session.state.remoteWindowSize! < 1024);
      const probe = openStream(client.openChannel(), flowInit());
      toServer!.resume();
      expect(await (await probe).dialed).toEqual({ ok: true });
      expect(client.sparesUsed).toBe(0);
      expect(srv.calls[2]!.headers[OPEN_HEADER]).toBeDefined();
    } finally {
      client.destroy();
      relay.close();
      await srv.close();
    }
  });
  it('an acceptor that defers OPEN_OK answers with OPEN_OK and DIAL_OK in one response; confirmOpen() sends it alone', async () => {
    const srv = await server(({ channel, headers }) => {
      void accept(channel, { deferOpenOk: true }).then((s) => {
        if (headers['x-confirm'] === undefined)
          echoOn(s); // dialOk() takes the OPEN_OK along
        else {
          s.confirmOpen();
          setTimeout(() => echoOn(s), 20);
        }
      });
    });
    const confirming = new Http2TunnelClient(`127.0.0.1:${srv.port}`, {
      headers: () => ({ 'x-confirm': '1' }),
    });
    try {
      const s = await openStream(srv.client.openChannel(), flowInit());
      expect(await s.dialed).toEqual({ ok: true });
      expect(await echo(s, 'together')).toBe('together');
      const call = srv.calls[0]!;
      expect((call.stream as unknown as { sentInfoHeaders?: unknown[] }).sentInfoHeaders ?? []).toEqual([]);
      expect(messagesIn(call.stream.sentHeaders)).toEqual(['open-ok', 'dial-ok']);

      const c = await openStream(confirming.openChannel(), flowInit());
      expect(await c.dialed).toEqual({ ok: true });
      const confirmed = srv.calls.find(
        (k) => k.headers['x-confirm'] !== undefined && k.headers[OPEN_HEADER],
      )!;
      const info = (confirmed.stream as unknown as { sentInfoHeaders?: Record<string, unknown>[] })
        .sentInfoHeaders;
      expect(info?.map((h) => [h[':status'], messagesIn(h)])).toEqual([[103, ['open-ok']]]);
      expect(messagesIn(confirmed.stream.sentHeaders)).toEqual(['dial-ok']);
    } finally {
      confirming.destroy();
      await srv.close();
    }
  });
  it("a finished call's END_STREAM goes out with the next call's first frame on the connection, or after a moment", async () => {
    const ended: string[] = [];
    const opened: string[] = [];
    const srv = await server(({ stream, channel }) => {
      void accept(channel).then((s) => {
        opened.push(String(s.id.source.port));
        stream.once('end', () => ended.push(String(s.id.source.port)));
        echoOn(s);
      });
    });
    try {
      const session = (): http2.ClientHttp2Session =>
        (srv.client as unknown as { session: http2.ClientHttp2Session }).session;
      const a = await openStream(srv.client.openChannel(), flowInit());
      expect(await echo(a, 'a')).toBe('a');
      await a.done;
      expect(DeferredEnds.pending(session())).toBe(1); // held: the protocol already ended the call
      const b = await openStream(srv.client.openChannel(), flowInit());
      expect(DeferredEnds.pending(session())).toBe(0); // went with B's OPEN
      await b.dialed;
      const [aPort, bPort] = [String(a.id.source.port), String(b.id.source.port)];
      expect(ended).toContain(aPort);
      expect(opened.indexOf(bPort)).toBeGreaterThan(-1);
      expect(await echo(b, 'b')).toBe('b');
      await b.done;
      expect(DeferredEnds.pending(session())).toBe(1);
      await until(() => ended.includes(bPort), END_LINGER_MS + 2000); // nothing else to send: a moment later
      expect(DeferredEnds.pending(session())).toBe(0);
    } finally {
      await srv.close();
    }
  });
  describe("the server's last CLOSE_SEND in the trailers", () => {
    /** Accepts, answers DIAL_OK, echoes; half-closes once the client has (the last side to). */
    const echoLast = ({ channel }: Call): void => void accept(channel).then(echoOn);
    const trailersOf = (call: Call): string[] =>
      messagesIn((call.stream as unknown as { sentTrailers?: Record<string, unknown> }).sentTrailers);

    it('goes in the trailers when the server ends the call with it; the flow ends cleanly with every byte', async () => {
      const srv = await server(echoLast);
      try {
        const s = await openStream(srv.client.openChannel(), flowInit());
        const text = 'x'.repeat(300_000);
        expect(await echo(s, text)).toBe(text);
        expect((await s.done).reason).toBe('eof');
        const call = srv.calls[0]!;
        expect(call.headers[TRAILER_FRAMES_HEADER]).toBe('1');
        await until(() => trailersOf(call).length > 0);
        expect(trailersOf(call)).toEqual(['close-send']);
      } finally {
        await srv.close();
      }
    });

    it('waits behind the DATA the client has not read yet', async () => {
      const big = Buffer.alloc(3 << 19, 7); // past what the stream holds (1 MiB), within the window (2 MiB)
      const srv = await server(({ channel }) => {
        void accept(channel).then((s) => {
          s.dialOk();
          s.on('end', () => {
            s.write(big);
            s.end();
          });
          s.resume();
        });
      });
      try {
        const s = await openStream(srv.client.openChannel(), flowInit());
        s.end(); // the server answers with 1.5 MiB and its CLOSE_SEND, in the trailers
        await until(() => trailersOf(srv.calls[0]!).length > 0);
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
        const ended = new Promise<void>((r) => s.once('end', () => r()));
        s.resume(); // only now: the trailers came long before the client read the data
        await ended;
        expect(Buffer.concat(got).equals(big)).toBe(true);
        expect((await s.done).reason).toBe('eof');
      } finally {
        await srv.close();
      }
    });

    it('goes as DATA at once when the server half-closes first, and to a client that did not ask', async () => {
      const srv = await server(({ channel, headers }) => {
        void accept(channel).then((s) => {
          s.dialOk();
          if (headers[TRAILER_FRAMES_HEADER] === undefined) {
            echoOn(s);
            return;
          }
          s.write(Buffer.from('bye'));
          s.end(); // before the client's CLOSE_SEND
          s.on('data', () => undefined);
          s.resume();
        });
      });
      try {
        const s = await openStream(srv.client.openChannel(), flowInit());
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(Buffer.from(c)));
        const ended = new Promise<void>((r) => s.once('end', () => r()));
        s.resume();
        await ended; // while our side is still open
        expect(Buffer.concat(got).toString()).toBe('bye');
        expect(s.closed).toBe(false);
        s.end();
        expect((await s.done).reason).toBe('eof');
        await until(() => trailersOf(srv.calls[0]!).length === 0 && srv.calls[0]!.stream.closed);
        expect(trailersOf(srv.calls[0]!)).toEqual([]);

        const older = await openStream(srv.olderChannel(), flowInit());
        expect(await echo(older, 'old')).toBe('old');
        expect((await older.done).reason).toBe('eof');
        const olderCall = srv.calls.find((c) => c.headers[TRAILER_FRAMES_HEADER] === undefined)!;
        await until(() => olderCall.stream.closed);
        expect(trailersOf(olderCall)).toEqual([]);
      } finally {
        await srv.close();
      }
    });
  });

  it('a spare the server answers before any OPEN (a refusal) is dropped: the next flow makes its own request', async () => {
    const srv = await server((call) => {
      if (call.headers[ANSWERS_HEADER] !== undefined) {
        call.stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16' },
          { endStream: true },
        );
        return;
      }
      echoDialer(call);
    });
    try {
      const a = await openStream(srv.client.openChannel(), flowInit());
      expect(await echo(a, 'a')).toBe('a');
      await until(() => srv.calls.length === 2 && srv.calls[1]!.stream.closed);
      await new Promise((r) => setImmediate(r));
      const b = await openStream(srv.client.openChannel(), flowInit());
      expect(await b.dialed).toEqual({ ok: true });
      expect(await echo(b, 'b')).toBe('b');
      expect(srv.client.sparesUsed).toBe(0);
    } finally {
      await srv.close();
    }
  });
});
