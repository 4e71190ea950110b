// Tunnel benchmark: bulk throughput and 64-byte ping-pong through the full tunnel path
//   app socket -> tunnel (client) -> manager (splice) -> tunnel -> agent dialer -> sink socket
// side by side with one raw grpc-js stream (same message size) and direct loopback TCP; and the
// download direction (a source behind the dialer sends, the app reads).
// The manager, the agent (with the sink/echo servers) and the raw gRPC server each run in their own
// worker thread, as they would run in their own process; the app and the client side run here.
// The tunnel is wired as the apps wire it (Tunnel calls on node:http2, tunnel HTTP/2 windows); the raw
// baselines are plain grpc-js, plus one raw row with the tunnel's windows.
// Then the same over a link with a round-trip time (a delaying proxy in front of the manager and the raw
// servers), where HTTP/2 windows, not CPU, decide: tunnel windows against grpc-js's 64 KiB defaults.
// `npm run bench -- tunnel` (TUNNEL_BENCH_MB=64 TUNNEL_BENCH_RUNS=5 TUNNEL_BENCH_PINGS=2000;
// TUNNEL_BENCH_ROWS=regex runs only the matching bulk rows, e.g. for a CPU profile;
// TUNNEL_BENCH_RTT_MS=40 TUNNEL_BENCH_RTT_MB=8 for the round-trip table, RTT 0 = skip it).
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { ManagerService } from '@telepresence/rpc';
import {
  ConnId,
  acceptTunnel,
  type TunnelMessageLike,
  dialerHandler,
  openTunnel,
  pumpSocket,
  splice,
  type FrameChannel,
  type GrpcTunnelClient,
  type TunnelCall,
  type TunnelClient,
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  MIN_WINDOW_BYTES,
  serveTunnelCalls,
  TUNNEL_CONNECTION_WINDOW_BYTES,
  TUNNEL_STREAM_WINDOW_BYTES,
  tuneTunnelServer,
  tunnelChannelOptions,
  fastTunnelClient,
  withFastTunnelCodec,
} from '@telepresence/tunnel';
import http2 from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fmt, loadavg, median, printTable, type BenchSuite } from './report.js';

const MB = 1024 * 1024;
const TOTAL_MB = Number(process.env['TUNNEL_BENCH_MB'] ?? 64);
const RUNS = Number(process.env['TUNNEL_BENCH_RUNS'] ?? 5);
const PINGS = Number(process.env['TUNNEL_BENCH_PINGS'] ?? 2000);
const ROWS = new RegExp(process.env['TUNNEL_BENCH_ROWS'] ?? '.');
const RTT_MS = Number(process.env['TUNNEL_BENCH_RTT_MS'] ?? 40);
const RTT_MB = Number(process.env['TUNNEL_BENCH_RTT_MB'] ?? 8);
/**
 * Raw grpc-js baselines. The tunnel's DATA frames are as big as its socket reads (Node reads at most
 * 64 KiB at a time unless the socket has a bigger read buffer), up to maxChunkBytes (128 KiB); the bench
 * prints the tunnel's measured mean frame size and compares with the raw stream of the nearest size.
 */
const RAW_MESSAGE_KIB = [64, 128];

const generated = { tunnel: ManagerService.tunnel } as unknown as ServiceDefinition;
const fast = withFastTunnelCodec(generated);
type BenchClient = GrpcTunnelClient & { close(): void };
const FastClient = fastTunnelClient<BenchClient>(generated, 'Manager');
const GeneratedClient = makeGenericClientConstructor(generated, 'Manager') as unknown as typeof FastClient;
const GRPC_OPTIONS = { 'grpc.max_receive_message_length': 8 * MB };

type Codec = 'fast' | 'generated';
/** HTTP/2 windows: the tunnel's (what the apps use) or grpc-js's defaults (64 KiB). */
type Windows = 'tunnel' | 'default';
/** How tunnel calls are made and served: on node:http2 (what the apps do) or through grpc-js. */
type Transport = 'http2' | 'grpc-js';

/** A gRPC server for Tunnel; with `direct`, Tunnel calls are served on node:http2 ahead of grpc-js. */
async function grpcServer(
  tunnel: (call: TunnelCall) => void,
  codec: Codec = 'fast',
  windows: Windows = 'tunnel',
  direct?: (channel: FrameChannel) => void,
): Promise<{ port: number; server: Server }> {
  const server = new Server(GRPC_OPTIONS);
  if (windows === 'tunnel' && !tuneTunnelServer(server)) throw new Error('grpc-js took no tunnel windows');
  if (direct !== undefined && !serveTunnelCalls(server, MANAGER_TUNNEL_PATH, direct))
    throw new Error('grpc-js took no direct tunnel calls');
  server.addService(codec === 'fast' ? fast : generated, { tunnel });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { port, server };
}

function grpcClient(port: number, codec: Codec = 'fast', windows: Windows = 'tunnel'): BenchClient {
  const Ctor = codec === 'fast' ? FastClient : GeneratedClient;
  const options = windows === 'tunnel' ? { ...GRPC_OPTIONS, ...tunnelChannelOptions() } : GRPC_OPTIONS;
  return new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), options);
}

/** The client of a tunnel path's hop, as the apps make it (http2) or a grpc-js client. */
function tunnelClient(
  port: number,
  windows: Windows,
  transport: Transport,
): TunnelClient & { close(): void } {
  if (transport === 'grpc-js') return grpcClient(port, 'fast', windows);
  const small = { streamWindowBytes: MIN_WINDOW_BYTES, connectionWindowBytes: MIN_WINDOW_BYTES };
  return new Http2TunnelClient(`127.0.0.1:${port}`, windows === 'tunnel' ? {} : small);
}

async function listen(onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
const DOWNLOAD_MARK = 0x44;
const DOWNLOAD_REQUEST_BYTES = 9;

/** Sink: reads to EOF, then ends. Echo: writes back what it reads. */
const sink = (s: net.Socket) => {
  s.resume();
  s.on('end', () => s.end());
  s.on('error', () => {});
};
const echo = (s: net.Socket) => {
  s.setNoDelay(true);
  s.pipe(s);
  s.on('error', () => {});
};
/** Source: reads a 4-byte count, sends that many bytes, ends. */
const source = (s: net.Socket) => {
  s.on('error', () => {});
  s.once('readable', function first() {
    const head = s.read(4) as Buffer | null;
    if (head === null) {
      s.once('readable', first);
      return;
    }
    s.resume();
    const block = Buffer.alloc(64 * 1024, 0x5a);
    void writeBytes(s, head.readUInt32BE(0), block.length, () => s.write(block)).then(() => s.end());
  });
};

// ---- roles run in worker threads ------------------------------------------------------------------

type Role =
  | { role: 'agent' }
  | { role: 'manager'; agentPort: number; windows: Windows; transport: Transport }
  | { role: 'raw'; codec: Codec; windows: Windows }
  | { role: 'delay'; targets: Record<string, number>; oneWayMs: number }
  | { role: 'relay'; targetPort: number; windows: Windows };

/**
 * Agent: dialer on a gRPC server (`grpc`: through grpc-js; `h2`: on node:http2 as the apps serve it),
 * plus the sink and echo targets. Reports its ports.
 */
async function agentRole(): Promise<Record<string, number>> {
  const agent = await grpcServer(dialerHandler());
  const agentH2 = await grpcServer(dialerHandler(), 'fast', 'tunnel', dialerHandler());
  const sinkServer = await listen(sink);
  const echoServer = await listen(echo);
  const sourceServer = await listen(source);
  return {
    grpc: agent.port,
    h2: agentH2.port,
    sink: portOf(sinkServer),
    echo: portOf(echoServer),
    source: portOf(sourceServer),
  };
}

/** Manager: accepts each flow, opens the same flow to the agent and splices the two. */
async function managerRole(
  agentPort: number,
  windows: Windows,
  transport: Transport,
): Promise<Record<string, number>> {
  const agentClient = tunnelClient(agentPort, windows, transport);
  const accept = (call: TunnelCall | FrameChannel) => {
    void acceptTunnel(call)
      .then(async (inbound) => {
        const outbound = await openTunnel(agentClient, {
          id: inbound.id,
          sessionId: inbound.sessionId,
          dialTimeoutMs: inbound.dialTimeoutMs,
        });
        await splice(inbound, outbound);
      })
      .catch(() => {}); // a failed flow shows up as a failed run in the main thread
  };
  const manager = await grpcServer(accept, 'fast', windows, transport === 'http2' ? accept : undefined);
  return { grpc: manager.port };
}

/**
 * Raw gRPC server: consumes every message, ends when the client ends. A download request (see
 * rawDownloadOnce) is answered with that many bytes in messages of the asked size instead.
 */
async function rawRole(codec: Codec, windows: Windows): Promise<Record<string, number>> {
  const raw = await grpcServer(
    (call) => {
      let download = false;
      call.on('data', (m: TunnelMessageLike) => {
        if (m.payload.length !== DOWNLOAD_REQUEST_BYTES || m.payload[0] !== DOWNLOAD_MARK) return;
        download = true;
        const payload = Buffer.alloc(m.payload.readUInt32BE(1), 0x5a);
        const total = m.payload.readUInt32BE(5);
        let sent = 0;
        const more = () => {
          while (sent < total) {
            sent += payload.length;
            if (!call.write({ payload })) {
              call.once('drain', more);
              return;
            }
          }
          call.end();
        };
        more();
      });
      call.on('end', () => {
        if (!download) call.end();
      });
    },
    codec,
    windows,
  );
  return { grpc: raw.port };
}

/**
 * A link with a round-trip time: for each target, a proxy that forwards every chunk oneWayMs later, each
 * way, and buffers what it must (the HTTP/2 windows bound what is in flight).
 */
async function delayRole(targets: Record<string, number>, oneWayMs: number): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const [name, port] of Object.entries(targets)) {
    const server = await listen((a) => {
      const b = net.connect({ port, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        from.on('data', (d: Buffer) => setTimeout(() => to.write(d), oneWayMs));
        from.on('end', () => setTimeout(() => to.end(), oneWayMs));
        from.on('error', () => to.destroy());
        from.on('close', () => setTimeout(() => to.destroy(), oneWayMs));
      }
    });
    ports[name] = portOf(server);
  }
  return ports;
}

/**
 * Relays in front of a raw server, to measure what any relaying manager costs without the tunnel:
 * `grpc` forwards each message of a grpc-js call to a grpc-js call to the target (what the splice does,
 * minus the tunnel); `http2` pipes each HTTP/2 stream's bytes to a stream to the target without
 * decoding gRPC messages at all (a manager that did not use grpc-js for tunnels).
 */
async function relayRole(targetPort: number, windows: Windows): Promise<Record<string, number>> {
  const target = grpcClient(targetPort, 'fast', windows);
  const grpc = await grpcServer(
    (call) => {
      const out = target.tunnel();
      call.on('data', (m: TunnelMessageLike) => {
        if (!out.write(m)) call.pause();
      });
      out.on('drain', () => call.resume());
      call.on('end', () => out.end());
      out.on('data', (m: TunnelMessageLike) => call.write(m));
      out.on('end', () => call.end());
      out.on('error', () => call.destroy());
    },
    'fast',
    windows,
  );
  const stream = windows === 'tunnel' ? TUNNEL_STREAM_WINDOW_BYTES : undefined;
  const settings = stream === undefined ? {} : { settings: { initialWindowSize: stream } };
  const openWindow = (s: http2.Http2Session) => {
    if (windows === 'tunnel') s.setLocalWindowSize(TUNNEL_CONNECTION_WINDOW_BYTES);
  };
  const session = http2.connect(`http://127.0.0.1:${targetPort}`, settings);
  session.once('connect', () => openWindow(session));
  const h2 = http2.createServer(settings);
  h2.on('session', openWindow);
  h2.on('stream', (inbound, headers) => {
    const outbound = session.request({
      ':method': 'POST',
      ':path': headers[':path'],
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status = '0';
    outbound.on('response', () =>
      inbound.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true }),
    );
    outbound.on('trailers', (t) => (status = String(t['grpc-status'] ?? '0')));
    inbound.on('wantTrailers', () => inbound.sendTrailers({ 'grpc-status': status }));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  return { grpc: grpc.port, http2: (h2.address() as net.AddressInfo).port };
}

if (!isMainThread && (workerData as { bench?: string } | null)?.bench === 'tunnel') {
  const role = (workerData as { role: Role }).role;
  const ports =
    role.role === 'agent'
      ? await agentRole()
      : role.role === 'manager'
        ? await managerRole(role.agentPort, role.windows, role.transport)
        : role.role === 'raw'
          ? await rawRole(role.codec, role.windows)
          : role.role === 'relay'
            ? await relayRole(role.targetPort, role.windows)
            : await delayRole(role.targets, role.oneWayMs);
  parentPort!.postMessage(ports);
}

async function startWorker(role: Role): Promise<{ ports: Record<string, number>; worker: Worker }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { bench: 'tunnel', role } });
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { ports, worker };
}

/** DATA bytes and frames the client side of the tunneled bulk flows sent and received. */
interface FrameCount {
  sentBytes: number;
  sentFrames: number;
  receivedBytes: number;
  receivedFrames: number;
}
const newFrameCount = (): FrameCount => ({
  sentBytes: 0,
  sentFrames: 0,
  receivedBytes: 0,
  receivedFrames: 0,
});
const meanKiB = (bytes: number, frames: number) => (frames > 0 ? bytes / frames / 1024 : Number.NaN);

/** The workstation side: a local listener whose sockets are tunneled to `dst` through the manager. */
async function clientSide(
  managerPort: number,
  targetPort: number,
  {
    windows = 'tunnel',
    count = newFrameCount(),
    transport = 'http2',
  }: { windows?: Windows; count?: FrameCount; transport?: Transport } = {},
): Promise<{ port: number; close(): void }> {
  const client = tunnelClient(managerPort, windows, transport);
  const dst = { ip: '127.0.0.1', port: targetPort };
  const listener = await listen((sock) => {
    sock.pause();
    const id = ConnId.of('tcp', { ip: '127.0.0.1', port: sock.remotePort ?? 0 }, dst);
    void openTunnel(client, { id, sessionId: 'bench', dialTimeoutMs: 5000 })
      .then(async (stream) => {
        const outcome = await stream.dialed;
        if (!outcome.ok) {
          sock.destroy();
          return;
        }
        const { stats } = await pumpSocket(stream, sock);
        // All but OPEN, CLOSE_SEND (sent) and OPEN_OK, DIAL_OK, CLOSE_SEND (received) are DATA here.
        count.sentBytes += stats.bytesSent;
        count.sentFrames += stats.framesSent - 2;
        count.receivedBytes += stats.bytesReceived;
        count.receivedFrames += stats.framesReceived - 3;
      })
      .catch(() => sock.destroy());
  });
  return {
    port: portOf(listener),
    close: () => {
      listener.close();
      client.close();
    },
  };
}

/** A connected app socket to 127.0.0.1:port. */
function connectApp(
  port: number,
  options: Omit<net.TcpNetConnectOpts, 'port' | 'host'>,
): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ ...options, port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes chunkBytes-sized chunks with writeChunk until totalBytes are sent, waiting for 'drain' when full. */
function writeBytes(
  target: NodeJS.EventEmitter,
  totalBytes: number,
  chunkBytes: number,
  writeChunk: () => boolean,
): Promise<void> {
  let sent = 0;
  return new Promise<void>((resolve) => {
    const write = () => {
      while (sent < totalBytes) {
        sent += chunkBytes;
        if (!writeChunk()) return;
      }
      target.off('drain', write);
      resolve();
    };
    target.on('drain', write);
    write();
  });
}

/** Resolves when a raw tunnel call ends (its data is read and dropped); rejects on its error. */
function callEnded(call: ReturnType<GrpcTunnelClient['tunnel']>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    call.on('data', () => {});
    call.on('end', () => resolve());
    call.on('error', reject);
  });
}

/** Sends totalBytes from an app socket and waits for the far end's EOF; returns MB/s. */
async function bulkOnce(port: number, totalBytes: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const sock = await connectApp(port, { allowHalfOpen: true });
  const t0 = performance.now();
  const done = new Promise<void>((r) => sock.once('end', () => r()));
  sock.resume();
  await writeBytes(sock, totalBytes, chunk.length, () => sock.write(chunk));
  sock.end();
  await done;
  const ms = performance.now() - t0;
  sock.destroy();
  return totalBytes / MB / (ms / 1000);
}

/** One raw grpc-js bidi stream of messageBytes messages, honouring write()/'drain'; returns MB/s. */
async function rawGrpcOnce(
  client: GrpcTunnelClient,
  totalBytes: number,
  messageBytes: number,
): Promise<number> {
  const payload = Buffer.alloc(messageBytes, 0x5a);
  const call = client.tunnel();
  const t0 = performance.now();
  const done = callEnded(call);
  await writeBytes(call, totalBytes, payload.length, () => call.write({ payload }));
  call.end();
  await done;
  return totalBytes / MB / ((performance.now() - t0) / 1000);
}

/** Asks `port` (a source, direct or tunneled) for totalBytes and reads them to EOF; returns MB/s. */
async function downloadOnce(port: number, totalBytes: number): Promise<number> {
  const sock = await connectApp(port, { allowHalfOpen: true });
  const t0 = performance.now();
  let got = 0;
  sock.on('data', (d: Buffer) => (got += d.length));
  const done = new Promise<void>((r) => sock.once('end', () => r()));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(totalBytes, 0);
  sock.end(head);
  await done;
  const ms = performance.now() - t0;
  sock.destroy();
  if (got !== totalBytes) throw new Error(`download got ${got} of ${totalBytes} bytes`);
  return totalBytes / MB / (ms / 1000);
}

/** One raw grpc-js bidi stream, server to client: messageBytes messages; returns MB/s. */
async function rawDownloadOnce(
  client: GrpcTunnelClient,
  totalBytes: number,
  messageBytes: number,
): Promise<number> {
  const call = client.tunnel();
  const t0 = performance.now();
  const done = callEnded(call);
  const request = Buffer.alloc(DOWNLOAD_REQUEST_BYTES);
  request[0] = DOWNLOAD_MARK;
  request.writeUInt32BE(messageBytes, 1);
  request.writeUInt32BE(totalBytes, 5);
  call.write({ payload: request });
  call.end();
  await done;
  return totalBytes / MB / ((performance.now() - t0) / 1000);
}

/** Round trips of 64-byte messages; returns median microseconds. */
async function pingPong(port: number, count: number): Promise<number> {
  const sock = await connectApp(port, { noDelay: true });
  const msg = Buffer.alloc(64, 1);
  const times: number[] = [];
  let pending: (() => void) | undefined;
  let got = 0;
  sock.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= 64 && pending) {
      got -= 64;
      const p = pending;
      pending = undefined;
      p();
    }
  });
  for (let i = 0; i < count + 50; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      pending = r;
      sock.write(msg);
    });
    if (i >= 50) times.push((performance.now() - t0) * 1000);
  }
  sock.destroy();
  return median(times);
}

async function run(): Promise<void> {
  const total = TOTAL_MB * MB;
  const agent = await startWorker({ role: 'agent' });
  const manager = await startWorker({
    role: 'manager',
    agentPort: agent.ports['h2']!,
    windows: 'tunnel',
    transport: 'http2',
  });
  // The tunnel before its node:http2 transport: every hop through grpc-js.
  const managerGrpc = await startWorker({
    role: 'manager',
    agentPort: agent.ports['grpc']!,
    windows: 'tunnel',
    transport: 'grpc-js',
  });
  const rawFast = await startWorker({ role: 'raw', codec: 'fast', windows: 'default' });
  const rawGenerated = await startWorker({ role: 'raw', codec: 'generated', windows: 'default' });
  const rawTuned = await startWorker({ role: 'raw', codec: 'fast', windows: 'tunnel' });
  // The tunnel as it was before its windows: every connection of the path on grpc-js's defaults.
  const managerDefault = await startWorker({
    role: 'manager',
    agentPort: agent.ports['grpc']!,
    windows: 'default',
    transport: 'grpc-js',
  });
  const relay = await startWorker({ role: 'relay', targetPort: rawFast.ports['grpc']!, windows: 'default' });
  const relayTuned = await startWorker({
    role: 'relay',
    targetPort: rawTuned.ports['grpc']!,
    windows: 'tunnel',
  });
  // A manager that would pipe HTTP/2 bytes instead of splicing through grpc-js, in front of the agent.
  const passThrough = await startWorker({
    role: 'relay',
    targetPort: agent.ports['grpc']!,
    windows: 'tunnel',
  });
  const workers = [
    agent,
    manager,
    managerGrpc,
    managerDefault,
    rawFast,
    rawGenerated,
    rawTuned,
    relay,
    relayTuned,
    passThrough,
  ];
  const sinkPort = agent.ports['sink']!;
  const echoPort = agent.ports['echo']!;
  const sourcePort = agent.ports['source']!;
  const up = newFrameCount();
  const down = newFrameCount();
  const bulkTunnel = await clientSide(manager.ports['grpc']!, sinkPort, { count: up });
  const downTunnel = await clientSide(manager.ports['grpc']!, sourcePort, { count: down });
  const bulkGrpc = await clientSide(managerGrpc.ports['grpc']!, sinkPort, { transport: 'grpc-js' });
  const oneHop = await clientSide(agent.ports['h2']!, sinkPort);
  const pingTunnel = await clientSide(manager.ports['grpc']!, echoPort);
  const bulkDefault = await clientSide(managerDefault.ports['grpc']!, sinkPort, {
    windows: 'default',
    transport: 'grpc-js',
  });
  const bulkPassThrough = await clientSide(passThrough.ports['http2']!, sinkPort, { transport: 'grpc-js' });
  const rawClients = {
    fast: grpcClient(rawFast.ports['grpc']!, 'fast', 'default'),
    generated: grpcClient(rawGenerated.ports['grpc']!, 'generated', 'default'),
    tuned: grpcClient(rawTuned.ports['grpc']!, 'fast', 'tunnel'),
    viaGrpcRelay: grpcClient(relay.ports['grpc']!, 'fast', 'default'),
    viaHttp2Relay: grpcClient(relay.ports['http2']!, 'fast', 'default'),
    viaGrpcRelayTuned: grpcClient(relayTuned.ports['grpc']!, 'fast', 'tunnel'),
    viaHttp2RelayTuned: grpcClient(relayTuned.ports['http2']!, 'fast', 'tunnel'),
  };
  const closers: { close(): void }[] = [
    bulkTunnel,
    bulkGrpc,
    downTunnel,
    oneHop,
    pingTunnel,
    bulkDefault,
    bulkPassThrough,
    ...Object.values(rawClients),
  ];

  const direct = 'direct TCP (loopback)';
  const tunnel = 'tunnel: socket > tunnel > splice > tunnel > dialer > sink';
  const oneHopName = 'tunnel, one hop: socket > tunnel > dialer > sink';
  const downloadName = 'download: source > dialer > tunnel > splice > tunnel > socket';
  const rawName = (kib: number, c: Codec = 'fast') => `raw grpc-js stream, ${kib} KiB msgs, ${c} codec`;
  const rawTunedName = `${rawName(64)}, tunnel windows`;
  const allRows: Row[] = [
    [direct, () => bulkOnce(sinkPort, total)],
    ...RAW_MESSAGE_KIB.map((kib): Row => [
      rawName(kib),
      () => rawGrpcOnce(rawClients.fast, total, kib * 1024),
    ]),
    [rawName(64, 'generated'), () => rawGrpcOnce(rawClients.generated, total, 64 * 1024)],
    [rawTunedName, () => rawGrpcOnce(rawClients.tuned, total, 64 * 1024)],
    [`${rawName(64)}, via a grpc-js relay`, () => rawGrpcOnce(rawClients.viaGrpcRelay, total, 64 * 1024)],
    [
      `${rawName(64)}, via a node:http2 pass-through relay`,
      () => rawGrpcOnce(rawClients.viaHttp2Relay, total, 64 * 1024),
    ],
    [
      `${rawTunedName}, via a grpc-js relay`,
      () => rawGrpcOnce(rawClients.viaGrpcRelayTuned, total, 64 * 1024),
    ],
    [
      `${rawTunedName}, via a node:http2 pass-through relay`,
      () => rawGrpcOnce(rawClients.viaHttp2RelayTuned, total, 64 * 1024),
    ],
    [tunnel, () => bulkOnce(bulkTunnel.port, total)],
    [`${tunnel}, via grpc-js`, () => bulkOnce(bulkGrpc.port, total)],
    [`${tunnel}, via grpc-js, grpc-js windows`, () => bulkOnce(bulkDefault.port, total)],
    [
      'tunnel via grpc-js: socket > tunnel > node:http2 pass-through (no splice) > tunnel > dialer > sink',
      () => bulkOnce(bulkPassThrough.port, total),
    ],
    [oneHopName, () => bulkOnce(oneHop.port, total)],
    [`download: ${direct}`, () => downloadOnce(sourcePort, total)],
    ...RAW_MESSAGE_KIB.map((kib): Row => [
      `download: ${rawName(kib)}`,
      () => rawDownloadOnce(rawClients.fast, total, kib * 1024),
    ]),
    [downloadName, () => downloadOnce(downTunnel.port, total)],
  ];
  await bulkOnce(bulkTunnel.port, 8 * MB); // warm-up (JIT, HTTP/2 windows)
  await rawGrpcOnce(rawClients.fast, 8 * MB, 64 * 1024);
  await rawGrpcOnce(rawClients.generated, 8 * MB, 64 * 1024);
  await rawGrpcOnce(rawClients.tuned, 8 * MB, 64 * 1024);
  await downloadOnce(downTunnel.port, 8 * MB);
  await rawDownloadOnce(rawClients.fast, 8 * MB, 64 * 1024);
  Object.assign(up, newFrameCount());
  Object.assign(down, newFrameCount());
  const { results, cpuPerMiB } = await measureRows(
    allRows.filter(([name]) => ROWS.test(name)),
    TOTAL_MB,
  );
  const med = (name: string) => median(results.get(name)!);
  // The fair baseline: the raw stream of the same direction whose message size is nearest the
  // tunnel's mean DATA frame.
  const nearest = (kib: number) =>
    RAW_MESSAGE_KIB.reduce((best, k) => (Math.abs(k - kib) < Math.abs(best - kib) ? k : best));
  const upKiB = meanKiB(up.sentBytes, up.sentFrames);
  const downKiB = meanKiB(down.receivedBytes, down.receivedFrames);
  const isDownload = (name: string) => name.startsWith('download:');
  const vsBaseline = (name: string) => {
    const kib = nearest(isDownload(name) ? downKiB : upKiB);
    const base = `${isDownload(name) ? 'download: ' : ''}${rawName(kib)}`;
    return results.has(base) ? `${fmt(med(name) / med(base))} (${kib} KiB)` : 'n/a';
  };
  const directOf = (name: string) => (isDownload(name) ? `download: ${direct}` : direct);
  printTable(
    `bulk throughput, ${TOTAL_MB} MiB per run, ${RUNS} runs (median), load ${loadavg()}`,
    ['path', 'MiB/s', 'vs raw grpc-js, same msg size', 'vs direct TCP', 'CPU ms/MiB (all threads)'],
    [...results.keys()].map((name) => [
      name,
      fmt(med(name), 1),
      vsBaseline(name),
      results.has(directOf(name)) ? fmt(med(name) / med(directOf(name))) : 'n/a',
      fmt(median(cpuPerMiB.get(name)!), 2),
    ]),
  );
  const summary = (name: string, kib: number, prefix: string) => {
    if (!results.has(name)) return;
    const vs = [...RAW_MESSAGE_KIB.map((k) => `${prefix}${rawName(k)}`), ...(prefix ? [] : [rawTunedName])]
      .filter((base) => results.has(base))
      .map((base) => `${fmt((100 * med(name)) / med(base), 0)}% of "${base}"`)
      .join(', ');
    console.log(`${name}: DATA frames of ${fmt(kib, 1)} KiB on average; ${vs}`);
  };
  console.log('');
  summary(tunnel, upKiB, '');
  summary(downloadName, downKiB, 'download: ');
  console.log('(goal: the full path >= 70% of one raw grpc-js stream of the same message size)');

  if (RTT_MS > 0) {
    const delayed = await startWorker({
      role: 'delay',
      oneWayMs: RTT_MS / 2,
      targets: {
        manager: manager.ports['grpc']!,
        managerDefault: managerDefault.ports['grpc']!,
        rawFast: rawFast.ports['grpc']!,
        rawTuned: rawTuned.ports['grpc']!,
      },
    });
    workers.push(delayed);
    const far = (name: string) => delayed.ports[name]!;
    const farRaw = grpcClient(far('rawFast'), 'fast', 'default');
    const farRawTuned = grpcClient(far('rawTuned'), 'fast', 'tunnel');
    const farUp = await clientSide(far('manager'), sinkPort);
    const farDown = await clientSide(far('manager'), sourcePort);
    const before = { windows: 'default', transport: 'grpc-js' } as const;
    const farUpDefault = await clientSide(far('managerDefault'), sinkPort, before);
    const farDownDefault = await clientSide(far('managerDefault'), sourcePort, before);
    closers.push(farRaw, farRawTuned, farUp, farDown, farUpDefault, farDownDefault);
    const bytes = RTT_MB * MB;
    const rttRows: Row[] = [
      ['raw grpc-js stream, 64 KiB msgs, grpc-js windows', () => rawGrpcOnce(farRaw, bytes, 64 * 1024)],
      ['raw grpc-js stream, 64 KiB msgs, tunnel windows', () => rawGrpcOnce(farRawTuned, bytes, 64 * 1024)],
      ['tunnel full path via grpc-js, grpc-js windows', () => bulkOnce(farUpDefault.port, bytes)],
      ['tunnel full path, tunnel windows', () => bulkOnce(farUp.port, bytes)],
      [
        'download: tunnel full path via grpc-js, grpc-js windows',
        () => downloadOnce(farDownDefault.port, bytes),
      ],
      ['download: tunnel full path, tunnel windows', () => downloadOnce(farDown.port, bytes)],
    ];
    const farResults = await measureRows(rttRows, RTT_MB);
    const farMed = (name: string) => median(farResults.results.get(name)!);
    const base = farMed(rttRows[0]![0]);
    printTable(
      `over a ${RTT_MS} ms round trip (the manager and raw servers behind a delaying proxy), ${RTT_MB} MiB per run, ${RUNS} runs (median), load ${loadavg()}`,
      ['path', 'MiB/s', 'vs raw grpc-js, grpc-js windows'],
      rttRows.map(([name]) => [name, fmt(farMed(name), 1), fmt(farMed(name) / base)]),
    );
  }

  if (PINGS > 0) {
    const directRtt = await pingPong(echoPort, PINGS);
    const tunnelRtt = await pingPong(pingTunnel.port, PINGS);
    printTable(
      `ping-pong, 64-byte messages, ${PINGS} round trips (median)`,
      ['path', 'RTT µs', 'vs direct'],
      [
        [direct, fmt(directRtt, 1), '1.00'],
        ['tunnel (same path, echo target)', fmt(tunnelRtt, 1), fmt(tunnelRtt / directRtt)],
      ],
    );
  }

  for (const c of closers) c.close();
  await Promise.all(workers.map((w) => w.worker.terminate()));
}

type Row = [name: string, once: () => Promise<number>];

/**
 * Runs every row RUNS times, interleaved run by run so that load changes on this shared machine hit
 * every row alike; returns each row's MiB/s and the CPU of the whole process (all threads) per MiB,
 * which, unlike MiB/s, barely moves with other jobs competing for the cores.
 */
async function measureRows(
  rows: readonly Row[],
  mibPerRun: number,
): Promise<{ results: Map<string, number[]>; cpuPerMiB: Map<string, number[]> }> {
  const results = new Map<string, number[]>();
  const cpuPerMiB = new Map<string, number[]>();
  for (let r = 0; r < RUNS; r++) {
    for (const [name, once] of rows) {
      const cpu0 = process.cpuUsage();
      const mibPerSec = await once();
      const cpu = process.cpuUsage(cpu0);
      results.set(name, [...(results.get(name) ?? []), mibPerSec]);
      cpuPerMiB.set(name, [...(cpuPerMiB.get(name) ?? []), (cpu.user + cpu.system) / 1000 / mibPerRun]);
    }
  }
  return { results, cpuPerMiB };
}

const suite: BenchSuite = { name: 'tunnel', run };
export default suite;
