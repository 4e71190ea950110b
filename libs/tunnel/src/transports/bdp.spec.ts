// BdpWindow over real node:http2 sessions on loopback: the receiver's connection window grows while a
// bulk transfer is limited by it, never past the maximum, and not at all for a trickle.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BdpWindow, bdpWindowOf } from './bdp.js';

interface Receiver {
  port: number;
  window: () => BdpWindow | undefined;
  pingsSent: () => number;
  received: Promise<number>;
  close(): Promise<void>;
}

/** A server whose session gets a BdpWindow(initial, max) and that counts what one stream brings. */
async function receiver(initial: number, max: number): Promise<Receiver> {
  const server = http2.createServer();
  let w: BdpWindow | undefined;
  let pings = 0;
  let done!: (n: number) => void;
  const received = new Promise<number>((r) => (done = r));
  server.on('session', (session) => {
    w = BdpWindow.attach(session, initial, max);
    const ping = session.ping.bind(session);
    session.ping = ((...args: Parameters<typeof session.ping>) => {
      pings++;
      return ping(...args);
    }) as typeof session.ping;
  });
  server.on('stream', (stream) => {
    const bdp = bdpWindowOf(stream.session);
    let n = 0;
    stream.on('data', (c: Buffer) => {
      bdp?.received(c.length);
      n += c.length;
    });
    stream.on('end', () => {
      stream.respond({ ':status': 200 }, { endStream: true });
      done(n);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    window: () => w,
    pingsSent: () => pings,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Sends `chunks` of `size` bytes on one stream, `gapMs` apart (0: as fast as the windows allow). */
async function send(port: number, chunks: number, size: number, gapMs = 0): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const req = session.request({ ':method': 'POST' });
  req.on('response', () => {});
  const chunk = Buffer.alloc(size, 7);
  for (let i = 0; i < chunks; i++) {
    if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  req.end();
  await new Promise((r) => req.on('close', r));
  session.destroy();
}

describe('BdpWindow', () => {
  it('grows the connection window while a bulk transfer fills it, up to the maximum', async () => {
    const r = await receiver(64 * 1024, 1024 * 1024);
    try {
      await send(r.port, 256, 128 * 1024); // 32 MiB
      expect(await r.received).toBe(32 * 1024 * 1024);
      expect(r.window()!.window).toBeGreaterThan(64 * 1024);
      expect(r.window()!.window).toBeLessThanOrEqual(1024 * 1024);
    } finally {
      await r.close();
    }
  });

  it('never probes for small messages (interactive flows pay no PING per exchange)', async () => {
    const r = await receiver(256 * 1024, 16 * 1024 * 1024);
    try {
      await send(r.port, 40, 1024, 5);
      expect(await r.received).toBe(40 * 1024);
      expect(r.window()!.window).toBe(256 * 1024);
      expect(r.pingsSent()).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('stays where it started for full frames that trickle and never fill it', async () => {
    const r = await receiver(256 * 1024, 16 * 1024 * 1024);
    try {
      await send(r.port, 20, 32 * 1024, 20);
      expect(await r.received).toBe(20 * 32 * 1024);
      expect(r.window()!.window).toBe(256 * 1024);
      expect(r.pingsSent()).toBeGreaterThan(0); // it measured, and saw no reason to grow
    } finally {
      await r.close();
    }
  });

  it('does not measure once the window is at its maximum', async () => {
    const r = await receiver(256 * 1024, 256 * 1024);
    try {
      await send(r.port, 64, 64 * 1024);
      expect(await r.received).toBe(4 * 1024 * 1024);
      expect(r.window()!.window).toBe(256 * 1024);
      expect(r.pingsSent()).toBe(0);
    } finally {
      await r.close();
    }
  });
});
