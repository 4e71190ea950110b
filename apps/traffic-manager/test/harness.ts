// Test harness: the real manager on 127.0.0.1 (ports 0) with an in-memory cluster API, a loopback DNS
// server to point its resolver at, and a promisified grpc-js ManagerClient.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

import {
  Metadata,
  credentials,
  type CallOptions,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';

import { ManagerClient } from '@telepresence/rpc';

import { subnetMath } from '../src/cluster-info/subnet-math.js';
import { parseConfig } from '../src/config.js';
import { FakeClusterApi, fakeNode } from '../src/k8s/cluster-api.fake.js';
import {
  startTrafficManager,
  type RunningTrafficManager,
  type TrafficManagerDeps,
} from '../src/traffic-manager.js';

/** A UDP DNS server on loopback answering A queries from a table (name -> IPs); other names NXDOMAIN. */
export async function startTestDns(
  table: Record<string, string[]>,
): Promise<{ address: string; queries: string[]; close(): Promise<void> }> {
  const socket: UdpSocket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (question === undefined) return;
    const name = question.name.toLowerCase();
    queries.push(`${name} ${question.type}`);
    const ips = table[name];
    const answers =
      question.type === 'A' && ips !== undefined
        ? ips.map((data) => ({
            name: question.name,
            type: 'A' as const,
            ttl: 30,
            class: 'IN' as const,
            data,
          }))
        : [];
    const reply = dnsPacket.encode({
      id: q.id,
      type: 'response',
      flags: dnsPacket.RECURSION_AVAILABLE | (ips === undefined ? 3 : 0),
      questions: q.questions ?? [],
      answers,
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export interface Harness {
  readonly manager: RunningTrafficManager;
  readonly api: FakeClusterApi;
  readonly client: ManagerClient;
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startHarness(
  env: Record<string, string> = {},
  extra: Partial<TrafficManagerDeps> = {},
): Promise<Harness> {
  const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
  api.nodes.set(fakeNode('node-1', '198.18.1.0/24'));
  api.nodes.set(fakeNode('node-2', '198.18.2.0/24'));
  const logs: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>) },
  );
  const config = parseConfig(
    {
      POD_IP: '198.18.1.10',
      POD_NAMESPACE: 'ambassador',
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: '0',
      METRICS_PORT: '0',
      SUBNET_DEBOUNCE: '50ms',
      ...env,
    },
    subnetMath,
  );
  const manager = await startTrafficManager(
    {
      config,
      log,
      api,
      subnets: subnetMath,
      resolvConf: {
        nameservers: [],
        search: ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
        ndots: 5,
      },
      version: 'test',
      defaultMetrics: false,
      ...extra,
    },
    { metricsEnabled: true },
  );
  const client = new ManagerClient(`127.0.0.1:${manager.grpcPort}`, credentials.createInsecure());
  return {
    manager,
    api,
    client,
    logs,
    async close() {
      client.close();
      await manager.close();
    },
  };
}

/**
 * Promisifies one unary method of a grpc-js client. Typed on the 4-argument overload, the one TypeScript
 * infers from for overloaded methods.
 */
export function call<Req, Res>(
  client: ManagerClient,
  method: (
    req: Req,
    metadata: Metadata,
    options: Partial<CallOptions>,
    cb: (err: ServiceError | null, res: Res) => void,
  ) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new Metadata(), {}, (err: ServiceError | null, res: Res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Collects a server stream's messages; `next()` waits for the next one, `ended` resolves with the status error. */
export function collect<T>(stream: ClientReadableStream<T>) {
  const items: T[] = [];
  const waiters: Array<() => void> = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('error', (e: ServiceError) => resolve(e));
    stream.on('end', () => resolve(undefined));
  });
  stream.on('data', (m: T) => {
    items.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  return {
    items,
    ended,
    async waitFor(pred: (items: T[]) => boolean, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred(items)) {
        if (Date.now() > deadline)
          throw new Error(`condition not met within ${timeoutMs} ms; have ${items.length} messages`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
  };
}
