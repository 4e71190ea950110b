// A flow whose tunnel dies must always release its socket, whatever the timing. These drive, through
// the in-memory channel, the races where the connection dies in the same tick as something else.
// Each test bounds its waits: without the fixes they hung (the socket stayed open for good).
import net from 'node:net';
import { memoryChannelPair } from '../protocol/memory-channel.js';
import { ConnId } from '../protocol/connid.js';
import { dialTcp } from './dialer.js';
import { TunnelError } from '../protocol/errors.js';
import { splice } from './splice.js';
import { acceptStream, openStream, type StreamEnd, type TunnelStream } from '../protocol/stream.js';
import { pumpSocket } from './tcp.js';

const id = ConnId.of('tcp', { ip: '198.18.1.5', port: 40000 }, { ip: '198.19.0.20', port: 80 });

interface Pair {
  client: TunnelStream;
  server: TunnelStream;
}

const open: TunnelStream[] = [];
const sockets: net.Socket[] = [];

async function pair(): Promise<Pair> {
  const [a, b] = memoryChannelPair();
  const [client, server] = await Promise.all([
    openStream(a, { id, sessionId: 'sess-1', dialTimeoutMs: 1000 }),
    acceptStream(b),
  ]);
  open.push(client, server);
  return { client, server };
}

/** A connected loopback TCP pair: `local` is what pumpSocket drives, `app` is the application. */
async function tcpPair(): Promise<{ local: net.Socket; app: net.Socket; appClosed: Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const app = net.connect(port, '127.0.0.1');
    app.on('error', () => {}); // a reset is what these tests expect
    const local = await accepted;
    sockets.push(local, app);
    const appClosed = new Promise<void>((r) => app.once('close', () => r()));
    await new Promise<void>((r) => (app.connecting ? app.once('connect', () => r()) : r()));
    return { local, app, appClosed };
  } finally {
    server.close();
  }
}

/** Rejects with `what` if `p` does not settle within `ms`: a hang fails the test instead of timing it out. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

afterEach(() => {
  for (const s of open.splice(0)) s.abort();
  for (const s of sockets.splice(0)) s.destroy();
});

describe('pumpSocket when the tunnel dies', () => {
  it('closes the socket of a stream that died between DIAL_OK and the pump (same tick)', async () => {
    const { client, server } = await pair();
    const { local, appClosed } = await tcpPair();
    // DIAL_OK and the transport failure reach the client in one delivery, as when the HTTP/2
    // connection drops right behind the frame: the stream is closed before `await dialed` returns.
    server.dialOk();
    server.abort(new TunnelError('transport', 'connection lost'));
    expect(await client.dialed).toEqual({ ok: true });
    expect(client.closed).toBe(true);
    const end = await within(pumpSocket(client, local), 2000, 'pumpSocket on an ended stream');
    expect(end.reason).toBe('transport');
    expect(local.destroyed).toBe(true);
    await within(appClosed, 2000, 'the application socket to close');
  });

  it("closes the socket when the peer's CLOSE_SEND and its failure arrive in the same tick", async () => {
    const { client, server } = await pair();
    const { local, app, appClosed } = await tcpPair();
    const pumped = pumpSocket(client, local);
    server.resume();
    // CLOSE_SEND makes the pump end() the socket (its FIN is then pending); the DISCONNECT right
    // behind it must still close the socket. Node cannot reset a socket with a pending FIN.
    server.end();
    server.disconnect('connection lost', new Error('connection lost'));
    const end: StreamEnd = await within(pumped, 2000, 'pumpSocket after CLOSE_SEND + DISCONNECT');
    expect(end.reason).toBe('peer-disconnect');
    expect(local.destroyed).toBe(true);
    app.resume();
    await within(appClosed, 2000, 'the application socket to close');
  });
});

describe('splice when one side has already ended', () => {
  it('disconnects the other side at once', async () => {
    const left = await pair();
    const right = await pair();
    left.client.disconnect('gone');
    await left.server.done; // the originator went away while the other side was being dialed
    const [leftEnd, rightEnd] = await within(
      splice(left.server, right.client),
      2000,
      'splice with an ended stream',
    );
    expect(leftEnd.reason).toBe('peer-disconnect');
    expect(rightEnd.reason).toBe('disconnect');
    expect((await within(right.server.done, 2000, 'the far end')).reason).toBe('peer-disconnect');
  });
});

describe('dialTcp for a stream that has already ended', () => {
  it('gives up at once instead of dialing', async () => {
    const { client, server } = await pair();
    server.disconnect('gone');
    await client.done;
    const listener = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    try {
      const { port } = listener.address() as net.AddressInfo;
      const dialed = dialTcp('127.0.0.1', port, 2000, client);
      dialed.then(
        (s) => sockets.push(s),
        () => {},
      );
      await expect(dialed).rejects.toMatchObject({ code: 'aborted' });
    } finally {
      listener.close();
    }
  });
});

describe('TunnelStream.onClosed', () => {
  it('fires once on close, and at once for a stream that has already ended', async () => {
    const { client, server } = await pair();
    const seen: string[] = [];
    client.onClosed((end) => seen.push(`before:${end.reason}`));
    server.disconnect('bye');
    const end = await client.done;
    expect(client.ended).toBe(end);
    client.onClosed((e) => seen.push(`after:${e.reason}`));
    expect(seen).toEqual(['before:peer-disconnect', 'after:peer-disconnect']);
  });
});
