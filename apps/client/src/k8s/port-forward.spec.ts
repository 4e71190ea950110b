// ForwardedSocket over a real loopback socket pair and a scripted WebSocket.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ForwardedSocket, maskingOptions, type ForwardWebSocket } from './port-forward.js';

class ScriptedWebSocket extends EventEmitter implements ForwardWebSocket {
  bufferedAmount = 0;
  paused = false;
  closed = false;
  readonly sent: Buffer[] = [];
  readonly callbacks: Array<() => void> = [];
  constructor(readonly protocol: string) {
    super();
  }
  send(data: Buffer, callback?: () => void): void {
    this.sent.push(data);
    if (callback) this.callbacks.push(callback);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    this.closed = true;
  }
}

/** A connected pair: `local` is what the gRPC client holds, `forwarded` the accepted side we pump. */
async function socketPair(): Promise<{ local: net.Socket; forwarded: net.Socket; close(): void }> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => (accepted = r));
  const server = net.createServer({ allowHalfOpen: true }, accepted);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const local = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
  const forwarded = await got;
  return {
    local,
    forwarded,
    close: () => {
      local.destroy();
      forwarded.destroy();
      server.close();
    },
  };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};
const port = Buffer.from([0x91, 0x1f]); // 8081, little-endian

describe('ForwardedSocket', () => {
  it('skips each channel’s port number and moves bytes both ways with the data channel byte', async () => {
    const pair = await socketPair();
    const ws = new ScriptedWebSocket('v4.channel.k8s.io');
    const forward = new ForwardedSocket(pair.forwarded, () => {});
    try {
      expect(forward.received(0, port)).toBe(true);
      expect(forward.received(1, port)).toBe(true);
      forward.attach(ws);
      const got: Buffer[] = [];
      pair.local.on('data', (d: Buffer) => got.push(d));
      forward.received(0, Buffer.from('from the manager'));
      pair.local.write('to the manager');
      await until(() => got.length > 0 && ws.sent.length > 0);
      expect(Buffer.concat(got).toString()).toBe('from the manager');
      expect(ws.sent[0]).toEqual(Buffer.concat([Buffer.from([0]), Buffer.from('to the manager')]));
    } finally {
      pair.close();
    }
  });

  it('stops reading the local socket while the WebSocket holds more than 1 MiB', async () => {
    const pair = await socketPair();
    const ws = new ScriptedWebSocket('v4.channel.k8s.io');
    new ForwardedSocket(pair.forwarded, () => {}).attach(ws);
    try {
      ws.bufferedAmount = 2 << 20; // the link is slow: everything sent stays queued
      pair.local.write(Buffer.alloc(64 * 1024, 1));
      await until(() => ws.sent.length > 0);
      await until(() => pair.forwarded.isPaused());
      const sentWhileFull = ws.sent.length;
      pair.local.write(Buffer.alloc(64 * 1024, 2));
      await new Promise((r) => setTimeout(r, 50));
      expect(ws.sent.length).toBe(sentWhileFull);
      ws.bufferedAmount = 0;
      for (const cb of ws.callbacks.splice(0)) cb();
      await until(() => ws.sent.length > sentWhileFull);
      expect(pair.forwarded.isPaused()).toBe(false);
    } finally {
      pair.close();
    }
  });

  it('pauses the WebSocket while the local socket is full, resumes on drain', async () => {
    const pair = await socketPair();
    const ws = new ScriptedWebSocket('v4.channel.k8s.io');
    const forward = new ForwardedSocket(pair.forwarded, () => {});
    forward.attach(ws);
    try {
      pair.local.pause(); // the gRPC client does not read
      forward.received(0, port);
      const chunk = Buffer.alloc(1 << 20, 3);
      for (let i = 0; i < 64 && !ws.paused; i++) forward.received(0, chunk);
      expect(ws.paused).toBe(true);
      pair.local.resume();
      await until(() => !ws.paused);
    } finally {
      pair.close();
    }
  });

  it('reports the error channel’s text and closes; ends the socket on CLOSE_STREAM', async () => {
    const failing = await socketPair();
    const errors: string[] = [];
    const forward = new ForwardedSocket(failing.forwarded, (m) => errors.push(m));
    forward.attach(new ScriptedWebSocket('v4.channel.k8s.io'));
    const ending = await socketPair();
    const other = new ForwardedSocket(ending.forwarded, () => {});
    other.attach(new ScriptedWebSocket('v5.channel.k8s.io'));
    try {
      forward.received(1, port);
      expect(forward.received(1, Buffer.from('connection refused'))).toBe(false);
      expect(errors).toEqual(['connection refused']);
      expect(failing.forwarded.destroyed).toBe(true);

      const ended = new Promise<void>((r) => ending.local.once('end', () => r()));
      ending.local.resume();
      expect(other.received(255, Buffer.from([0]))).toBe(true);
      await ended;
    } finally {
      failing.close();
      ending.close();
    }
  });

  it('half-closes with CLOSE_STREAM on v5 and closes the WebSocket on older protocols', async () => {
    const v5 = await socketPair();
    const v4 = await socketPair();
    const ws5 = new ScriptedWebSocket('v5.channel.k8s.io');
    const ws4 = new ScriptedWebSocket('v4.channel.k8s.io');
    new ForwardedSocket(v5.forwarded, () => {}).attach(ws5);
    new ForwardedSocket(v4.forwarded, () => {}).attach(ws4);
    try {
      v5.local.end();
      v4.local.end();
      await until(() => ws5.sent.length > 0 && ws4.closed);
      expect(ws5.sent.at(-1)).toEqual(Buffer.from([255, 0]));
      expect(ws5.closed).toBe(false);
    } finally {
      v5.close();
      v4.close();
    }
  });
});

describe('maskingOptions', () => {
  it('sends unmasked (all-zero key) inside TLS only', () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    maskingOptions('https://198.19.255.1:443').generateMask?.(mask);
    expect([...mask]).toEqual([0, 0, 0, 0]);
    expect(maskingOptions('http://127.0.0.1:8080').generateMask).toBeUndefined();
  });
});
