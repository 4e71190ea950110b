// Acceptance tests over real grpc-js on 127.0.0.1 with real sockets (issue 3, items 1, 2, 3, 5, 6).
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import type net from 'node:net';
import { ConnId, dialerHandler, openTunnel, type StreamEnd } from '../src/index.js';
import {
  connectClient,
  connectTcp,
  delay,
  forwardingListener,
  randomBytes,
  readAll,
  sha256,
  startServer,
  tcpServer,
} from './harness.js';

const local = (port: number) => ({ ip: '127.0.0.1', port });
const src = { ip: '127.0.0.1', port: 40000 };

describe('tunnel over grpc-js', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('1. half-close: 10 MB up, EOF, then 10 MB down; checksums match, both sides end cleanly', async () => {
    const up = randomBytes(10 * 1024 * 1024, 1);
    const down = randomBytes(10 * 1024 * 1024, 2);
    let serverGot = '';
    const target = await tcpServer((s) => {
      void readAll(s).then((b) => {
        serverGot = sha256(b);
        s.end(down); // answer only after the client's EOF
      });
    });
    const grpc = await startServer(dialerHandler());
    const client = connectClient(grpc.port);
    const fwd = await forwardingListener(client, local(target.port));
    try {
      const app = await connectTcp(fwd.port);
      const answer = readAll(app);
      app.end(up);
      const ans = await answer;
      expect(sha256(ans)).toBe(sha256(down));
      expect(serverGot).toBe(sha256(up));
      await new Promise((r) => (app.destroyed ? r(null) : app.once('close', r)));
      await delay(50);
      expect(fwd.ends).toHaveLength(1);
      expect(fwd.ends[0]).toMatchObject({ reason: 'eof', error: undefined });
      expect(fwd.ends[0]!.stats.bytesSent).toBe(up.length);
      expect(fwd.ends[0]!.stats.bytesReceived).toBe(down.length);
    } finally {
      client.close();
      await Promise.all([fwd.close(), target.close(), grpc.close()]);
    }
  });

  describe('2. dial outcome', () => {
    let python: ChildProcess | undefined;
    afterAll(() => python?.kill());

    it('closed port: DIAL_REJECT with ECONNREFUSED', async () => {
      const closed = await tcpServer(() => {});
      const port = closed.port;
      await closed.close();
      const grpc = await startServer(dialerHandler());
      const client = connectClient(grpc.port);
      try {
        const id = ConnId.of('tcp', src, local(port));
        const stream = await openTunnel(client, { id, sessionId: 's', dialTimeoutMs: 2000 });
        expect(await stream.dialed).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
        const end = await stream.done;
        expect(end.reason).toBe('dial-rejected');
        expect(end.error?.message).toMatch(/ECONNREFUSED/);
      } finally {
        client.close();
        await grpc.close();
      }
    });

    it('black-holed address (listener with a full backlog): DIAL_REJECT ETIMEDOUT after the dial timeout', async () => {
      // A listener that never accepts and has backlog 0: once its queue is full the kernel silently
      // drops SYNs, exactly like a black hole, without touching any route or firewall.
      python = spawn(
        'python3',
        [
          '-c',
          "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const port = await new Promise<number>((r) =>
        python!.stdout!.once('data', (d) => r(Number(String(d).trim()))),
      );
      const fillers: net.Socket[] = [];
      for (let i = 0; i < 2; i++) {
        const s = (await import('node:net')).connect(port, '127.0.0.1');
        s.on('error', () => {});
        fillers.push(s);
      }
      await delay(100);
      const grpc = await startServer(dialerHandler());
      const client = connectClient(grpc.port);
      try {
        const id = ConnId.of('tcp', src, local(port));
        const t0 = Date.now();
        const stream = await openTunnel(client, { id, sessionId: 's', dialTimeoutMs: 700 });
        const outcome = await stream.dialed;
        const elapsed = Date.now() - t0;
        expect(outcome).toMatchObject({ ok: false, reason: 'ETIMEDOUT' });
        expect(elapsed).toBeGreaterThanOrEqual(650);
        expect(elapsed).toBeLessThan(700 + 3000); // generous: the machine may be loaded
      } finally {
        fillers.forEach((s) => s.destroy());
        client.close();
        await grpc.close();
      }
    });
  });

  it('3. 1,000 concurrent flows over one HTTP/2 connection, random sizes up to 1 MB, checksums match', async () => {
    // The target answers each flow with the sha256 of what it read, after the client's EOF.
    const target = await tcpServer(
      (s) =>
        void readAll(s).then(
          (b) => s.end(sha256(b)),
          () => s.destroy(),
        ),
    );
    // 1,000 handshakes at once queue behind each other on a slow machine: allow them time.
    const slowMachine = { handshakeTimeoutMs: 60_000 };
    const grpc = await startServer(dialerHandler(slowMachine));
    const client = connectClient(grpc.port);
    try {
      const results = await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          // Log-uniform sizes from 1 B to 1 MiB (every 100th flow exactly 1 MiB): all magnitudes are
          // covered while the total stays near 100 MB, so the test fits the suite's time budget.
          const size =
            i % 100 === 0 ? 1024 * 1024 : Math.floor(Math.exp(Math.random() * Math.log(1024 * 1024)));
          const data = randomBytes(size, i + 7);
          const id = ConnId.of('tcp', { ip: '127.0.0.1', port: 10000 + i }, local(target.port));
          const stream = await openTunnel(client, { id, sessionId: 's', dialTimeoutMs: 30_000 }, slowMachine);
          const chunks: Buffer[] = [];
          stream.on('data', (c) => chunks.push(Buffer.from(c)));
          stream.on('end', () => stream.end());
          const ok = await stream.dialed;
          if (!ok.ok) throw new Error(`flow ${i}: ${ok.reason}`);
          stream.resume();
          let off = 0;
          await new Promise<void>((resolve) => {
            const pump = () => {
              while (off < data.length) {
                const piece = data.subarray(off, off + 64 * 1024);
                off += piece.length;
                if (!stream.write(piece)) return;
              }
              stream.off('drain', pump);
              resolve();
            };
            stream.on('drain', pump);
            pump();
          });
          stream.end();
          const end = await stream.done;
          return { end, ok: Buffer.concat(chunks).toString() === sha256(data) };
        }),
      );
      expect(results.filter((r) => !r.ok)).toHaveLength(0);
      expect(results.map((r) => r.end.reason).filter((r) => r !== 'eof')).toEqual([]);
    } finally {
      client.close();
      await Promise.all([target.close(), grpc.close()]);
    }
  }, 90_000);

  it('5. the gRPC connection dies mid-transfer: every flow ends promptly with an error, sockets closed', async () => {
    // Targets stream data forever (with back-pressure) until their socket closes.
    const target = await tcpServer((s) => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      const write = () => {
        while (!s.destroyed && s.write(chunk));
      };
      s.on('drain', write);
      write();
      s.resume();
    });
    const grpc = await startServer(dialerHandler());
    const client = connectClient(grpc.port);
    const fwd = await forwardingListener(client, local(target.port));
    let apps: net.Socket[] = [];
    try {
      apps = await Promise.all(Array.from({ length: 20 }, () => connectTcp(fwd.port)));
      // An app sees the end as an error (our RST) or as EOF: libuv reports a reset that arrives while
      // received data is still queued as EOF (POLLHUP after a partial read), and with bigger HTTP/2
      // windows data is nearly always queued. Our own sockets are asserted closed below.
      const appSawEnd = apps.map((a) => {
        a.on('error', () => {});
        a.resume();
        a.write(Buffer.alloc(100_000));
        return new Promise<void>((r) => {
          a.once('end', () => r());
          a.once('close', () => r());
        });
      });
      for (let i = 0; i < 100 && target.sockets.size < 20; i++) await delay(20);
      await delay(200);
      expect(target.sockets.size).toBe(20);
      const t0 = Date.now();
      grpc.server.forceShutdown();
      await Promise.all(appSawEnd);
      while (target.sockets.size + fwd.sockets.size > 0 && Date.now() - t0 < 3000) await delay(20);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(target.sockets.size).toBe(0);
      expect(fwd.sockets.size).toBe(0);
      await delay(50);
      expect(fwd.ends).toHaveLength(20);
      for (const end of fwd.ends) {
        expect(end.error?.code).toMatch(/^(transport|peer-disconnect)$/);
      }
    } finally {
      // Also when an assertion failed early: nothing of this test may outlive it.
      for (const a of apps) a.destroy();
      grpc.server.forceShutdown();
      client.close();
      await Promise.all([fwd.close(), target.close()]);
    }
    // Not the default 5 s: on a loaded 2-core machine the setup alone (20 flows dialed through the
    // tunnel while the others stream) took up to 4.4 s and the whole test up to 12 s, with every flow
    // ending well within the 3 s bound asserted above. The promptness bound is that one, not this.
  }, 20_000);

  it('6. idle timeout closes an idle UDP flow; a TCP flow with keep-alives survives past it', async () => {
    // The TCP idle timeout is long enough that an event loop stalled by a loaded machine still gets a
    // keep-alive out in time; the wait below is well past it.
    const timeouts = { udpIdleTimeoutMs: 300, tcpIdleTimeoutMs: 1500, tcpKeepAliveIntervalMs: 100 };
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, rinfo) => echo.send(m, rinfo.port, rinfo.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const udpPort = echo.address().port;
    const target = await tcpServer((s) => s.pipe(s));
    const grpc = await startServer(dialerHandler(timeouts));
    const client = connectClient(grpc.port);
    try {
      const udp = await openTunnel(
        client,
        { id: ConnId.of('udp', src, local(udpPort)), sessionId: 's', dialTimeoutMs: 1000 },
        timeouts,
      );
      const tcp = await openTunnel(
        client,
        { id: ConnId.of('tcp', src, local(target.port)), sessionId: 's', dialTimeoutMs: 1000 },
        timeouts,
      );
      expect(await udp.dialed).toEqual({ ok: true });
      expect(await tcp.dialed).toEqual({ ok: true });
      // Datagram boundaries survive the tunnel both ways.
      const sizes = [1, 1400, 9000, 30000];
      const got: number[] = [];
      udp.on('data', (d) => got.push(d.length));
      udp.resume();
      for (const n of sizes) udp.write(Buffer.alloc(n, 9));
      const tcpData: Buffer[] = [];
      tcp.on('data', (d) => tcpData.push(Buffer.from(d)));
      tcp.resume();
      tcp.write(Buffer.from('hello'));
      const t0 = Date.now();
      const udpEnd: StreamEnd = await udp.done;
      expect(got).toEqual(sizes);
      expect(udpEnd.reason).toMatch(/^(idle|peer-disconnect)$/);
      expect(Date.now() - t0).toBeLessThan(3000);
      await delay(2500); // well past the TCP idle timeout: keep-alives hold the quiet flow open
      expect(tcp.closed).toBe(false);
      tcp.write(Buffer.from(' again'));
      await delay(100);
      expect(Buffer.concat(tcpData).toString()).toBe('hello again');
      tcp.end();
      expect((await tcp.done).reason).toBe('eof');
    } finally {
      echo.close();
      client.close();
      await Promise.all([target.close(), grpc.close()]);
    }
  });
});
