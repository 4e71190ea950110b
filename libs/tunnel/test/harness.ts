// Test harness: a real grpc-js server on 127.0.0.1 serving only Manager.Tunnel, clients, TCP helpers.
import { Server, ServerCredentials, credentials, type ServiceDefinition } from '@grpc/grpc-js';
import { ManagerService } from '@telepresence/rpc';
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import {
  ConnId,
  openTunnel,
  pumpSocket,
  type StreamEnd,
  type FrameChannel,
  type GrpcTunnelClient,
  type TunnelCall,
  type TunnelClient,
  type TunnelStream,
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  TunnelError,
  fastTunnelClient,
  serveTunnelCalls,
  tuneTunnelServer,
  tunnelChannelOptions,
  withFastTunnelCodec,
} from '../src/index.js';
import { type OpenInit, type StreamOptions } from '../src/protocol/stream.js';

// Only Manager.Tunnel, wired as the apps wire it: calls served on node:http2 ahead of grpc-js
// (serveTunnelCalls) and made with Http2TunnelClient, the tunnel flow-control windows on both ends. The
// grpc-js registration (fast codec) serves grpc-js clients (connectGrpcClient) and is the fallback.
const tunnelOnly = { tunnel: ManagerService.tunnel } as unknown as ServiceDefinition;
const TunnelOnlyClient = fastTunnelClient<GrpcTunnelClient & { close(): void }>(
  tunnelOnly,
  'telepresence.manager.v1.Manager',
);

export interface GrpcServer {
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function startServer(
  tunnel: (call: TunnelCall | FrameChannel) => void,
  options: Record<string, unknown> = {},
): Promise<GrpcServer> {
  const server = new Server(options);
  tuneTunnelServer(server);
  if (!serveTunnelCalls(server, MANAGER_TUNNEL_PATH, tunnel)) throw new Error('grpc-js internals missing');
  server.addService(withFastTunnelCodec(tunnelOnly), { tunnel });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    server,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** The apps' tunnel client: node:http2, the tunnel windows. */
export function connectClient(port: number): Http2TunnelClient {
  return new Http2TunnelClient(`127.0.0.1:${port}`);
}

/** A grpc-js client (fast codec, tunnel windows): the other kind of peer the server takes. */
export function connectGrpcClient(port: number): GrpcTunnelClient & { close(): void } {
  return new TunnelOnlyClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    ...tunnelChannelOptions(),
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
  });
}

export interface TcpServer {
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

export async function tcpServer(onSocket: (s: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {}); // tests assert on 'close'; errors (ECONNRESET) are expected in some
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * The workstation side of an outbound flow: a local listener whose accepted sockets are tunneled to
 * `dst` (as the netstack would do for a routed SYN). Records each flow's end.
 */
export async function forwardingListener(
  client: TunnelClient,
  dst: { ip: string; port: number },
  options: StreamOptions = {},
): Promise<TcpServer & { ends: StreamEnd[] }> {
  const ends: StreamEnd[] = [];
  const srv = await tcpServer((sock) => {
    const id = ConnId.of('tcp', { ip: sock.remoteAddress ?? '127.0.0.1', port: sock.remotePort ?? 0 }, dst);
    sock.pause();
    void (async () => {
      try {
        const stream = await openTunnel(
          client,
          { id, sessionId: 'test-session', dialTimeoutMs: 2000 },
          options,
        );
        const outcome = await stream.dialed;
        if (!outcome.ok) {
          sock.resetAndDestroy();
          ends.push(await stream.done);
          return;
        }
        ends.push(await pumpSocket(stream, sock));
      } catch {
        sock.destroy();
      }
    })();
  });
  return Object.assign(srv, { ends });
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads a socket to EOF. */
export function readAll(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Random payload (native RNG: fast enough for hundreds of MB). */
export function randomBytes(n: number, _seed = 0): Buffer {
  return cryptoRandomBytes(n);
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `cond`, checking every 5 ms; throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond(); await delay(5))
    if (Date.now() > deadline) throw new Error('condition not met in time');
}

let nextFlowPort = 1;
/** An opener's OPEN for a new TCP flow (a source port of its own each time). */
export const flowInit = (): OpenInit => ({
  id: ConnId.of('tcp', { ip: '127.0.0.1', port: nextFlowPort++ }, { ip: '198.18.0.1', port: 80 }),
  sessionId: 'session-1',
  dialTimeoutMs: 1000,
});

/** An acceptor that answers DIAL_OK at once and echoes until the opener half-closes. */
export function echoOn(s: TunnelStream): void {
  s.dialOk();
  s.on('data', (c: Buffer) => s.write(Buffer.from(c)));
  s.on('end', () => s.end());
  s.resume();
}

/**
 * For servers that accept every call: an Http2TunnelClient makes a request ahead for its next flow (a
 * spare) and cancels it when closed, so one call ends before its OPEN. Anything else is rethrown.
 */
export function ignoreEndedBeforeOpen(e: unknown): void {
  if (!(e instanceof TunnelError && e.code === 'transport')) throw e;
}

/**
 * A byte stream that is not a net.Socket (node:http2 then runs on its JS stream wrapper) and opens late,
 * like a port-forward WebSocket: writes wait for the TCP connection to `target`; 'connect' once it is up;
 * an Error target fails it.
 */
export class LateStream extends Duplex {
  private socket: net.Socket | undefined;
  private readonly opened: Promise<net.Socket>;

  constructor(target: number | Error) {
    super({ allowHalfOpen: true });
    this.opened = new Promise((resolve, reject) => {
      setTimeout(() => {
        if (target instanceof Error) return reject(target);
        const socket = net.connect({ port: target, host: '127.0.0.1' }, () => resolve(socket));
        socket.once('error', reject);
      }, 20);
    });
    this.opened.then(
      (socket) => {
        this.socket = socket;
        socket.on('data', (d: Buffer) => this.push(d));
        socket.on('end', () => this.push(null));
        socket.on('close', () => this.destroy());
        this.emit('connect');
      },
      (e: Error) => this.destroy(e),
    );
  }

  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, done: (e?: Error | null) => void): void {
    this.opened.then((s) => s.write(chunk, done), done);
  }
  override _final(done: () => void): void {
    this.socket?.end();
    done();
  }
  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    this.socket?.destroy();
    done(e);
  }
}
