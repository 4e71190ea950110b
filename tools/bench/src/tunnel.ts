// Tunnel benchmark: bulk throughput and 64-byte ping-pong through the full tunnel path
//   app socket -> tunnel (client) -> manager (splice) -> tunnel -> agent dialer -> sink socket
// side by side with one raw grpc-js stream (same message size) and direct loopback TCP.
// `npm run bench -- tunnel` (TUNNEL_BENCH_MB=64 TUNNEL_BENCH_RUNS=5 TUNNEL_BENCH_PINGS=2000).
import { Server, ServerCredentials, credentials, type ServiceDefinition } from '@grpc/grpc-js';
import { ManagerClient, ManagerService } from '@telepresence/rpc';
import {
  ConnId,
  acceptTunnel,
  dialerHandler,
  openTunnel,
  pumpSocket,
  splice,
  type TunnelCall,
  type TunnelClient,
} from '@telepresence/tunnel';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fmt, median, printTable, type BenchSuite } from './report.js';

const MB = 1024 * 1024;
const TOTAL_MB = Number(process.env['TUNNEL_BENCH_MB'] ?? 64);
const RUNS = Number(process.env['TUNNEL_BENCH_RUNS'] ?? 5);
const PINGS = Number(process.env['TUNNEL_BENCH_PINGS'] ?? 2000);
/** The tunnel's DATA chunk size; the raw grpc-js baseline sends messages of this size too. */
const MESSAGE_BYTES = 128 * 1024;

const tunnelOnly = { tunnel: ManagerService.tunnel } as unknown as ServiceDefinition;
const GRPC_OPTIONS = { 'grpc.max_receive_message_length': 8 * MB };

async function grpcServer(tunnel: (call: TunnelCall) => void): Promise<{ port: number; server: Server }> {
  const server = new Server(GRPC_OPTIONS);
  server.addService(tunnelOnly, { tunnel });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, server };
}

function grpcClient(port: number): ManagerClient & TunnelClient {
  return new ManagerClient(`127.0.0.1:${port}`, credentials.createInsecure(), GRPC_OPTIONS) as ManagerClient &
    TunnelClient;
}

async function listen(onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

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

interface Path {
  name: string;
  /** Port an app connects to: the sink/echo itself, or the tunnel's local listener. */
  port: number;
}

/** Builds the full tunnel path to `targetPort`; returns the local listener port and a closer. */
async function tunnelPath(targetPort: number): Promise<{ port: number; close(): void }> {
  const agent = await grpcServer(dialerHandler());
  const agentClient = grpcClient(agent.port);
  const manager = await grpcServer((call) => {
    void acceptTunnel(call).then(async (inbound) => {
      const outbound = await openTunnel(agentClient, {
        id: inbound.id,
        sessionId: inbound.sessionId,
        dialTimeoutMs: inbound.dialTimeoutMs,
      });
      await splice(inbound, outbound);
    });
  });
  const client = grpcClient(manager.port);
  const dst = { ip: '127.0.0.1', port: targetPort };
  const listener = await listen((sock) => {
    sock.pause();
    const id = ConnId.of('tcp', { ip: '127.0.0.1', port: sock.remotePort ?? 0 }, dst);
    void openTunnel(client, { id, sessionId: 'bench', dialTimeoutMs: 5000 }).then(async (stream) => {
      const outcome = await stream.dialed;
      if (outcome.ok) await pumpSocket(stream, sock);
      else sock.destroy();
    });
  });
  return {
    port: portOf(listener),
    close: () => {
      listener.close();
      client.close();
      agentClient.close();
      manager.server.forceShutdown();
      agent.server.forceShutdown();
    },
  };
}

/** Sends totalBytes from an app socket and waits for the far end's EOF; returns MB/s. */
async function bulkOnce(port: number, totalBytes: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
  const t0 = performance.now();
  const done = new Promise<void>((r) => sock.once('end', () => r()));
  sock.resume();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const write = () => {
      while (sent < totalBytes) {
        sent += chunk.length;
        if (!sock.write(chunk)) return;
      }
      sock.off('drain', write);
      resolve();
    };
    sock.on('drain', write);
    write();
  });
  sock.end();
  await done;
  const ms = performance.now() - t0;
  sock.destroy();
  return totalBytes / MB / (ms / 1000);
}

/** One raw grpc-js bidi stream: MESSAGE_BYTES messages, honouring write()/'drain'; returns MB/s. */
async function rawGrpcOnce(client: TunnelClient, totalBytes: number): Promise<number> {
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x5a);
  const call = client.tunnel();
  const t0 = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', () => {});
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  let sent = 0;
  await new Promise<void>((resolve) => {
    const write = () => {
      while (sent < totalBytes) {
        sent += payload.length;
        if (!call.write({ payload })) return;
      }
      call.off('drain', write);
      resolve();
    };
    call.on('drain', write);
    write();
  });
  call.end();
  await done;
  return totalBytes / MB / ((performance.now() - t0) / 1000);
}

/** Round trips of 64-byte messages; returns median microseconds. */
async function pingPong(port: number, count: number): Promise<number> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
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
  const sinkServer = await listen(sink);
  const echoServer = await listen(echo);
  const bulkTunnel = await tunnelPath(portOf(sinkServer));
  const pingTunnel = await tunnelPath(portOf(echoServer));
  const raw = await grpcServer((call) => {
    call.on('data', () => {});
    call.on('end', () => call.end());
  });
  const rawClient = grpcClient(raw.port);

  const paths: Path[] = [
    { name: 'direct TCP (loopback)', port: portOf(sinkServer) },
    { name: 'tunnel: socket > tunnel > splice > tunnel > dialer > sink', port: bulkTunnel.port },
  ];
  const results = new Map<string, number[]>();
  const rawName = `raw grpc-js stream, ${MESSAGE_BYTES / 1024} KiB messages`;
  // Interleave runs so load changes on this shared machine hit every row alike.
  await bulkOnce(bulkTunnel.port, 8 * MB); // warm-up
  await rawGrpcOnce(rawClient, 8 * MB);
  for (let r = 0; r < RUNS; r++) {
    for (const p of paths) results.set(p.name, [...(results.get(p.name) ?? []), await bulkOnce(p.port, total)]);
    results.set(rawName, [...(results.get(rawName) ?? []), await rawGrpcOnce(rawClient, total)]);
  }
  const rawMedian = median(results.get(rawName)!);
  const tunnelMedian = median(results.get(paths[1]!.name)!);
  printTable(
    `bulk throughput, ${TOTAL_MB} MiB per run, ${RUNS} runs (median)`,
    ['path', 'MiB/s', 'vs raw grpc-js', 'vs direct TCP'],
    [paths[0]!.name, rawName, paths[1]!.name].map((name) => {
      const m = median(results.get(name)!);
      return [name, fmt(m, 1), fmt(m / rawMedian), fmt(m / median(results.get(paths[0]!.name)!))];
    }),
  );
  console.log(`\ntunnel / raw grpc-js = ${fmt((100 * tunnelMedian) / rawMedian, 0)}% (goal >= 70%)`);

  const directRtt = await pingPong(portOf(echoServer), PINGS);
  const tunnelRtt = await pingPong(pingTunnel.port, PINGS);
  printTable(
    `ping-pong, 64-byte messages, ${PINGS} round trips (median)`,
    ['path', 'RTT µs', 'vs direct'],
    [
      ['direct TCP (loopback)', fmt(directRtt, 1), '1.00'],
      ['tunnel (same path as above, echo target)', fmt(tunnelRtt, 1), fmt(tunnelRtt / directRtt)],
    ],
  );

  rawClient.close();
  raw.server.forceShutdown();
  bulkTunnel.close();
  pingTunnel.close();
  sinkServer.close();
  echoServer.close();
}

const suite: BenchSuite = { name: 'tunnel', run };
export default suite;
