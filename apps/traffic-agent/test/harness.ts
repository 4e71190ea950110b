// Integration harness: the real traffic-manager on 127.0.0.1 (in-process, ports 0), real agents (the
// agent's startAgent with a real grpc-js ManagerClient), a workstation-side client session that answers
// the manager's dial requests like the client daemon does (open the matching Tunnel, dial its
// destination on this machine), and loopback servers standing in for the app container and the
// workstation's local server.
import { createServer, type AddressInfo, type Server } from 'node:net';

import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';

import { ManagerClient, type common, type manager } from '@telepresence/rpc';
import {
  parseConfig,
  startTrafficManager,
  subnetMath,
  type ClusterApi,
  type RunningTrafficManager,
} from '@telepresence/traffic-manager';
import { ConnId, openTunnel, serveDialer } from '@telepresence/tunnel';

import { startAgent, type RunningAgent } from '../src/agent.js';
import type { AgentConfig, InterceptPort } from '../src/config.js';
import { fromTunnelLogger } from '../src/log.js';
import { grpcManagerApi } from '../src/manager-api.js';

const quiet = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

/** Enough of the Kubernetes API for the manager's discovery with SERVICE_CIDR and environment pod CIDRs. */
function idleClusterApi(): ClusterApi {
  const idle = {
    list: () => Promise.resolve({ items: [], resourceVersion: '1' }),
    watch: (_rv: string, _on: unknown, signal: AbortSignal) =>
      new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
  };
  return {
    nodes: idle,
    pods: idle,
    createService: () => Promise.reject(new Error('not used')),
    deleteService: () => Promise.resolve(),
    namespaceUid: () => Promise.resolve('00000000-0000-0000-0000-000000000001'),
    listServiceCidrs: () => Promise.resolve(['198.19.0.0/20']),
  };
}

export async function startManager(): Promise<RunningTrafficManager> {
  const config = parseConfig(
    {
      POD_IP: '127.0.0.1',
      POD_NAMESPACE: 'ambassador',
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: '0',
      METRICS_PORT: '0',
      SERVICE_CIDR: '198.19.0.0/20',
      POD_CIDR_STRATEGY: 'environment',
      POD_CIDRS: '198.18.0.0/16',
      AGENT_DNS_TIMEOUT: '1000',
    },
    subnetMath,
  );
  return startTrafficManager(
    {
      config,
      log: quiet,
      api: idleClusterApi(),
      subnets: subnetMath,
      resolvConf: { nameservers: [], search: [], ndots: 5 },
      version: 'test',
      defaultMetrics: false,
    },
    { metricsEnabled: false },
  );
}

export interface TestAgent {
  readonly agent: RunningAgent;
  readonly client: ManagerClient;
  close(): Promise<void>;
}

export async function startTestAgent(
  managerPort: number,
  opts: {
    podName: string;
    podIp?: string;
    workload?: string;
    namespace?: string;
    ports: InterceptPort[];
    resolve?: (q: common.DNSQuestion) => Promise<common.DNSAnswer>;
  },
): Promise<TestAgent> {
  const config: AgentConfig = {
    managerHost: '127.0.0.1',
    managerPort,
    podName: opts.podName,
    namespace: opts.namespace ?? 'default',
    podIp: opts.podIp ?? '127.0.0.1',
    workload: opts.workload ?? 'echo',
    appHost: '127.0.0.1',
    ports: opts.ports,
    logLevel: 'silent',
    remainIntervalMs: 200,
    dialTimeoutMs: 2000,
    resolvConfPath: '/dev/null',
    hostsPath: '/dev/null',
  };
  const client = new ManagerClient(`127.0.0.1:${managerPort}`, credentials.createInsecure());
  const agent = await startAgent({
    config,
    api: grpcManagerApi(client),
    log: fromTunnelLogger(quiet as never),
    resolve: opts.resolve ?? (() => Promise.resolve({ rcode: 3, records: [] })),
    backoff: { initialMs: 50, maxMs: 500, multiplier: 2, jitter: 0.1 },
    listenHost: '127.0.0.1',
  });
  return {
    agent,
    client,
    async close() {
      await agent.close();
      client.close();
    },
  };
}

export function httpPort(containerPort: number, name = 'http'): InterceptPort {
  return {
    serviceName: 'echo',
    servicePortName: name,
    servicePort: 80,
    targetPortName: name,
    containerPort,
    agentPort: 0,
    redirect: false,
  };
}

/**
 * A workstation client: arrives, keeps its session, and answers WatchDial requests by dialing each
 * flow's destination here (what the client daemon does for intercepts).
 */
export interface TestClient {
  readonly client: ManagerClient;
  readonly session: common.SessionInfo;
  readonly dials: string[];
  unary<Req, Res>(method: string, req: Req): Promise<Res>;
  close(): Promise<void>;
}

export async function startTestClient(managerPort: number, namespace = 'default'): Promise<TestClient> {
  const client = new ManagerClient(`127.0.0.1:${managerPort}`, credentials.createInsecure());
  const unary = <Req, Res>(method: string, req: Req): Promise<Res> =>
    new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
      fn.call(client, req, new Metadata(), {}, (err: ServiceError | null, res: Res) =>
        err ? reject(err) : resolve(res),
      );
    });
  const arrived = await unary<manager.ArriveAsClientRequest, manager.ArriveAsClientResponse>(
    'arriveAsClient',
    {
      client: { name: 'test', namespace, installId: 'i', version: 't' },
    },
  );
  const session = arrived.session!;
  const dials: string[] = [];
  const watch = client.watchDial({ session });
  watch.on('data', (req: common.DialRequest) => {
    const id = ConnId.fromBytes(req.connId);
    dials.push(id.toString());
    openTunnel(client, {
      id,
      sessionId: session.sessionId,
      dialTimeoutMs: Number(req.dialTimeout) / 1e6,
    }).then(
      (stream) => serveDialer(stream),
      () => {},
    );
  });
  watch.on('error', () => {});
  // The manager answers dial requests only for sessions that watch; wait until ours is registered.
  await new Promise((r) => setTimeout(r, 100));
  const keepAlive = setInterval(() => {
    unary('remain', { session }).catch(() => {});
  }, 1000);
  return {
    client,
    session,
    dials,
    unary,
    async close() {
      clearInterval(keepAlive);
      watch.cancel();
      await unary('depart', { session }).catch(() => {});
      client.close();
    },
  };
}

/** A TCP server on loopback; `handler` per connection. */
export async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer({ allowHalfOpen: true }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
