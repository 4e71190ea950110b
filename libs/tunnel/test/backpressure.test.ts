// Acceptance 4: a receiver reading 1 KB/s holds the sender to the configured bound (counted bytes).
import type net from 'node:net';
import { dialerHandler, type TunnelStream } from '../src/index.js';
import { connectClient, connectTcp, delay, startServer, tcpServer } from './harness.js';
import { ConnId, openTunnel, pumpSocket } from '../src/index.js';

const BOUND = 64 * 1024;
const CHUNK = 16 * 1024;

it('4. slow reader at 1 KB/s: the sender buffers no more than the configured bound', async () => {
  let slowReceived = 0;
  const target = await tcpServer((s) => {
    // Read 100 bytes every 100 ms = 1 KB/s; Node's own buffer stops reading from the kernel once full.
    s.pause();
    const timer = setInterval(() => {
      const b = s.read(100) as Buffer | null;
      if (b) slowReceived += b.length;
    }, 100);
    s.on('close', () => clearInterval(timer));
  });
  const opts = { maxBufferedBytes: BOUND, maxChunkBytes: CHUNK };
  const grpc = await startServer(dialerHandler(opts));
  const client = connectClient(grpc.port);
  let sender: TunnelStream | undefined;
  const local = await tcpServer((sock) => {
    sock.pause();
    const id = ConnId.of(
      'tcp',
      { ip: '127.0.0.1', port: sock.remotePort ?? 0 },
      { ip: '127.0.0.1', port: target.port },
    );
    void openTunnel(client, { id, sessionId: 's', dialTimeoutMs: 2000 }, opts).then(async (stream) => {
      sender = stream;
      await stream.dialed;
      await pumpSocket(stream, sock);
    });
  });
  let app: net.Socket | undefined;
  try {
    app = await connectTcp(local.port);
    app.on('error', () => {});
    // The app writes as fast as it is allowed, forever.
    const chunk = Buffer.alloc(64 * 1024, 1);
    const fill = () => {
      while (app!.write(chunk));
    };
    app.on('drain', fill);
    fill();
    await delay(3000);
    expect(sender).toBeDefined();
    const s = sender!;
    // Counted: the sending stream never held more than the bound plus one socket read (<= 64 KiB; write()
    // takes a whole read before it can say "full"), plus one code byte per frame.
    expect(s.stats.maxBufferedBytes).toBeLessThanOrEqual(BOUND + 64 * 1024 + (BOUND + 64 * 1024) / CHUNK);
    // And the whole pipeline stopped taking data: what left the app is bounded by kernel socket
    // buffers and HTTP/2 windows, not by how long we wait.
    const after3s = s.stats.bytesSent;
    await delay(1000);
    expect(s.stats.bytesSent - after3s).toBeLessThan(256 * 1024);
    expect(slowReceived).toBeGreaterThan(1000);
    expect(slowReceived).toBeLessThan(10_000);
  } finally {
    app?.destroy();
    client.close();
    await Promise.all([local.close(), target.close(), grpc.close()]);
  }
}, 15_000);
