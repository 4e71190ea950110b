// The port-forward's WebSocket client: its frame reader on byte streams cut anywhere, and the client
// against the ws library's server (another implementation) over real sockets.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  FrameReader,
  UpgradeRefusedError,
  WebSocketProtocolError,
  openWebSocket,
  type MessageSink,
} from './websocket-client.js';

/** An unmasked frame as a server sends it. */
function frame(opcode: number, payload: Buffer, fin = true, extraBits = 0): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0, len])
      : len < 65536
        ? Buffer.from([0, 126, len >> 8, len & 255])
        : Buffer.concat([
            Buffer.from([0, 127, 0, 0, 0, 0]),
            Buffer.from([len >>> 24, (len >> 16) & 255, (len >> 8) & 255, len & 255]),
          ]);
  head[0] = (fin ? 0x80 : 0) | extraBits | opcode;
  return Buffer.concat([head, payload]);
}

/** What a sink saw: messages (binary flag and bytes) and control frames, in order. */
function recorder(): { sink: MessageSink; seen: string[]; messages: { binary: boolean; bytes: Buffer }[] } {
  const messages: { binary: boolean; bytes: Buffer }[] = [];
  const seen: string[] = [];
  let current: { binary: boolean; pieces: Buffer[] } | undefined;
  return {
    messages,
    seen,
    sink: {
      onMessageStart: (binary) => (current = { binary, pieces: [] }),
      onMessageData: (bytes) => current!.pieces.push(Buffer.from(bytes)),
      onMessageEnd: () => {
        const bytes = Buffer.concat(current!.pieces);
        messages.push({ binary: current!.binary, bytes });
        seen.push(`message ${bytes.length}`);
      },
    },
  };
}

describe('FrameReader', () => {
  const big = randomBytes(70_000); // a 64-bit length
  const mid = randomBytes(3_000); // a 16-bit length
  const stream = Buffer.concat([
    frame(0x2, Buffer.from([0, 1, 2])),
    frame(0x2, big.subarray(0, 10_000), false), // a message in three fragments, a ping between them
    frame(0x9, Buffer.from('are you there')),
    frame(0x0, big.subarray(10_000, 60_000), false),
    frame(0x0, big.subarray(60_000), true),
    frame(0x1, Buffer.from('text')),
    frame(0x2, Buffer.alloc(0)),
    frame(0x2, mid),
    frame(0xa, Buffer.alloc(0)),
    frame(0x8, Buffer.from([0x03, 0xe8])),
  ]);

  function readAll(chunks: Buffer[]) {
    const r = recorder();
    const controls: string[] = [];
    const reader = new FrameReader(r.sink, (op, payload) =>
      controls.push(`${op}:${payload.toString('hex')}`),
    );
    for (const c of chunks) reader.push(c);
    return { ...r, controls };
  }

  function cut(b: Buffer, random: () => number): Buffer[] {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length;) {
      const n = 1 + Math.floor(random() * 40);
      out.push(b.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  it('hands on every message whole and every control frame, however the bytes are cut', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const cuts = [
      [stream],
      [...stream].map((b) => Buffer.from([b])),
      ...Array.from({ length: 50 }, () => cut(stream, random)),
    ];
    for (const chunks of cuts) {
      const { messages, controls } = readAll(chunks);
      expect(messages.map((m) => [m.binary, m.bytes.length])).toEqual([
        [true, 3],
        [true, big.length],
        [false, 4],
        [true, 0],
        [true, mid.length],
      ]);
      expect(messages[1]!.bytes.equals(big)).toBe(true);
      expect(messages[4]!.bytes.equals(mid)).toBe(true);
      expect(controls).toEqual([`9:${Buffer.from('are you there').toString('hex')}`, '10:', '8:03e8']);
    }
  });

  it('passes a big message on as views of what was read, without assembling it', () => {
    const pieces: Buffer[] = [];
    const reader = new FrameReader(
      {
        onMessageStart: () => undefined,
        onMessageData: (b) => pieces.push(b),
        onMessageEnd: () => undefined,
      },
      () => undefined,
    );
    const bytes = frame(0x2, big);
    const chunk = Buffer.from(bytes); // one read
    reader.push(chunk);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]!.buffer).toBe(chunk.buffer); // a view, not a copy
  });

  it.each([
    ['a masked frame', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5]), /masked/],
    ['reserved bits', frame(0x2, Buffer.from('x'), true, 0x40), /reserved/],
    ['a continuation with no message', frame(0x0, Buffer.from('x')), /never began/],
    [
      'a message inside a message',
      Buffer.concat([frame(0x2, Buffer.from('a'), false), frame(0x2, Buffer.from('b'))]),
      /inside another/,
    ],
    ['an oversize control frame', frame(0x9, Buffer.alloc(126)), /control frame/],
    ['a fragmented control frame', frame(0x9, Buffer.from('p'), false), /control frame/],
    ['an unknown opcode', frame(0x3, Buffer.from('x')), /opcode 3/],
  ])('refuses %s with a WebSocketProtocolError', (_what, bytes, message) => {
    const reader = new FrameReader(recorder().sink, () => undefined);
    expect(() => reader.push(bytes)).toThrow(WebSocketProtocolError);
    expect(() => new FrameReader(recorder().sink, () => undefined).push(bytes)).toThrow(message);
  });
});

describe('openWebSocket against the ws library server', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let url: string;
  let onConnection: (ws: WebSocket) => void;

  beforeEach(async () => {
    server = http.createServer();
    wss = new WebSocketServer({
      server,
      handleProtocols: (p) => (p.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
    });
    wss.on('connection', (ws) => onConnection(ws));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/namespaces/x/pods/y/portforward`;
  });

  afterEach(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    ['a random mask (plain HTTP)', false],
    ['the all-zero mask (as inside TLS)', true],
  ])('moves messages both ways, fragmented ones too, and answers pings: %s', async (_what, zeroMask) => {
    const fromClient: Buffer[] = [];
    const pongs: Buffer[] = [];
    const big = randomBytes(300_000);
    onConnection = (ws) => {
      ws.on('message', (m: Buffer) => fromClient.push(m));
      ws.on('pong', (p: Buffer) => pongs.push(p));
      ws.send(big);
      ws.send(Buffer.from('frag'), { fin: false });
      ws.ping(Buffer.from('ping!'));
      ws.send(Buffer.from('mented'), { fin: true });
    };
    const r = recorder();
    const ws = await openWebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {}, r.sink, zeroMask);
    expect(ws.protocol).toBe('v4.channel.k8s.io');
    ws.start();
    ws.send([Buffer.from([0]), Buffer.from('to '), Buffer.from('the pod')]);
    await until(() => r.messages.length === 2 && fromClient.length === 1 && pongs.length === 1);
    expect(r.messages[0]!.bytes.equals(big)).toBe(true);
    expect(r.messages[1]!.bytes.toString()).toBe('fragmented');
    expect(fromClient[0]!.equals(Buffer.from('\0to the pod'))).toBe(true);
    expect(pongs[0]!.toString()).toBe('ping!');
    const closed = new Promise<void>((res) => ws.on('close', () => res()));
    for (const c of wss.clients) c.close(1000);
    await closed;
  });

  it('reads nothing before start()', async () => {
    onConnection = (ws) => ws.send(Buffer.from('early'));
    const r = recorder();
    const ws = await openWebSocket(url, ['v4.channel.k8s.io'], {}, r.sink);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.messages).toEqual([]);
    ws.start();
    await until(() => r.messages.length === 1);
    ws.close();
  });

  it('closes when asked: the server sees a normal closure', async () => {
    let code: number | undefined;
    onConnection = (ws) => ws.on('close', (c: number) => (code = c));
    const ws = await openWebSocket(url, ['v4.channel.k8s.io'], {}, recorder().sink);
    ws.start();
    ws.close();
    await until(() => code !== undefined);
    expect(code).toBe(1000);
  });
});

describe('openWebSocket refusals', () => {
  /** A server that answers upgrades with what the test writes; close() ends its sockets too. */
  async function rawServer(
    onUpgrade: (socket: Socket, key: string) => void,
  ): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer();
    const sockets = new Set<Socket>();
    server.on('upgrade', (req, socket: Socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      onUpgrade(socket, String(req.headers['sec-websocket-key']));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  it("a server that answers with an error gives its status and body (the API server's Status)", async () => {
    const status = JSON.stringify({ kind: 'Status', message: 'pods "y" is forbidden', code: 403 });
    const s = await rawServer((socket) =>
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${status.length}\r\n\r\n${status}`,
      ),
    );
    try {
      const e = await openWebSocket(s.url, ['v4.channel.k8s.io'], {}, recorder().sink).catch(
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(UpgradeRefusedError);
      expect(e).toMatchObject({ statusCode: 403, body: status });
    } finally {
      await s.close();
    }
  });

  it('a server that switches protocols with a wrong accept key or an unoffered subprotocol is refused', async () => {
    for (const [accept, protocol, message] of [
      ['bm90IHRoZSBrZXk=', 'v4.channel.k8s.io', /Sec-WebSocket-Accept/],
      [undefined, 'SPDY/3.1', /subprotocol "SPDY\/3.1"/],
    ] as const) {
      const s = await rawServer((socket, key) => {
        const right = acceptOf(key);
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept ?? right}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
        );
      });
      try {
        const e = await openWebSocket(s.url, ['v4.channel.k8s.io'], {}, recorder().sink).catch(
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(WebSocketProtocolError);
        expect((e as Error).message).toMatch(message);
      } finally {
        await s.close();
      }
    }
  });
});

function acceptOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}
