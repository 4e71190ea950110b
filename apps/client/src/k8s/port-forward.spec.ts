// PortForwardStream over a scripted WebSocket.
import { EventEmitter } from 'node:events';
import { PortForwardStream, maskingOptions, type ForwardWebSocket } from './port-forward.js';

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

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};
const port = Buffer.from([0x91, 0x1f]); // 8081, little-endian

/** A stream over a scripted WebSocket that opens when `open` is called. */
function opening(protocol = 'v4.channel.k8s.io') {
  const ws = new ScriptedWebSocket(protocol);
  const errors: string[] = [];
  let open!: () => void;
  let fail!: (e: Error) => void;
  const stream = new PortForwardStream((m) => errors.push(m)).open(
    new Promise<ForwardWebSocket>((resolve, reject) => {
      open = () => resolve(ws);
      fail = reject;
    }),
  );
  const connected = new Promise<void>((r) => stream.once('connect', () => r()));
  /** Opens the WebSocket and waits for the stream to say so. */
  const opened = (): Promise<void> => {
    open();
    return connected;
  };
  return { ws, stream, errors, open, opened, fail };
}

describe('PortForwardStream', () => {
  it('holds writes until the WebSocket is open, then sends them behind the data channel byte', async () => {
    const { ws, stream, open } = opening();
    let connected = false;
    stream.on('connect', () => (connected = true));
    let written = false;
    stream.write('to the manager', () => (written = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(ws.sent).toEqual([]);
    expect(written).toBe(false);
    open();
    await until(() => written && connected);
    expect(ws.sent).toEqual([Buffer.concat([Buffer.from([0]), Buffer.from('to the manager')])]);
  });

  it('skips each channel’s port number and passes the data channel’s bytes on', async () => {
    const { stream, opened } = opening();
    await opened();
    const got: Buffer[] = [];
    stream.on('data', (d: Buffer) => got.push(d));
    expect(stream.received(0, port)).toBe(true);
    expect(stream.received(1, port)).toBe(true);
    expect(stream.received(0, Buffer.from('from the manager'))).toBe(true);
    await until(() => got.length > 0);
    expect(Buffer.concat(got).toString()).toBe('from the manager');
  });

  it('completes writes only while the WebSocket holds at most 1 MiB unsent', async () => {
    const { ws, stream, opened } = opening();
    await opened();
    ws.bufferedAmount = 2 << 20; // the link is slow: everything sent stays queued
    let done = 0;
    stream.write(Buffer.alloc(64 * 1024, 1), () => done++);
    await until(() => ws.sent.length === 1);
    stream.write(Buffer.alloc(64 * 1024, 2), () => done++);
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(0);
    expect(ws.sent.length).toBe(1); // the second waits in the stream, not in the WebSocket
    ws.bufferedAmount = 0;
    for (const cb of ws.callbacks.splice(0)) cb();
    await until(() => done === 2 && ws.sent.length === 2);
  });

  it('pauses the WebSocket while the reader does not read, resumes when it does', async () => {
    const { ws, stream, opened } = opening();
    await opened();
    stream.received(0, port);
    const chunk = Buffer.alloc(1 << 20, 3);
    for (let i = 0; i < 64 && !ws.paused; i++) stream.received(0, chunk);
    expect(ws.paused).toBe(true);
    stream.resume();
    await until(() => !ws.paused);
  });

  it('reports the error channel’s text and fails; CLOSE_STREAM ends the readable side', async () => {
    const failing = opening();
    await failing.opened();
    const failed = new Promise<Error>((r) => failing.stream.once('error', r));
    failing.stream.received(1, port);
    expect(failing.stream.received(1, Buffer.from('connection refused'))).toBe(false);
    expect(failing.errors).toEqual(['connection refused']);
    expect((await failed).message).toBe('the port-forward failed: connection refused');

    const ending = opening('v5.channel.k8s.io');
    await ending.opened();
    const ended = new Promise<void>((r) => ending.stream.once('end', () => r()));
    ending.stream.resume();
    expect(ending.stream.received(255, Buffer.from([0]))).toBe(true);
    await ended;
  });

  it('half-closes with CLOSE_STREAM on v5 and closes the WebSocket on older protocols', async () => {
    const v5 = opening('v5.channel.k8s.io');
    const v4 = opening('v4.channel.k8s.io');
    v5.stream.end(); // before the WebSocket is open: it waits for it
    v4.open();
    v5.open();
    v4.stream.end();
    await until(() => v5.ws.sent.length > 0 && v4.ws.closed);
    expect(v5.ws.sent.at(-1)).toEqual(Buffer.from([255, 0]));
    expect(v5.ws.closed).toBe(false);
  });

  it('a WebSocket that cannot be opened fails the stream with its error, and a write waiting on it', async () => {
    const { stream, fail } = opening();
    const failed = new Promise<Error>((r) => stream.once('error', r));
    let writeError: Error | null | undefined;
    stream.write('x', (e) => (writeError = e));
    fail(new Error('the API server refused the port-forward: forbidden (HTTP 403)'));
    expect((await failed).message).toMatch(/forbidden \(HTTP 403\)/);
    await until(() => writeError !== undefined);
    expect(writeError).toBeInstanceOf(Error);
  });

  it('a WebSocket that closes destroys the stream; a destroyed stream closes its WebSocket', async () => {
    const a = opening();
    await a.opened();
    a.ws.emit('close');
    expect(a.stream.destroyed).toBe(true);
    const b = opening();
    await b.opened();
    b.stream.destroy();
    expect(b.ws.closed).toBe(true);
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
