// A devcluster with the traffic-manager (chart rendered by `helm template`) and the echo service, plus a
// telepresence CLI runner for the workstation namespace, optionally inside a mount namespace of ours
// (see ResolvedHome). Built apps are used: apps/client/dist, apps/traffic-manager/dist.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  InterceptingCall,
  Metadata,
  type CallOptions,
  type ClientOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig, PortForward, type V1Pod } from '@kubernetes/client-node';
import dnsPacket from 'dns-packet';
import { applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import type { ManagerClient } from '@telepresence/rpc';
import { needs } from 'test-requirements';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const helm = path.join(repo, 'tools/bin/helm');
/** The telepresence CLI (built). */
export const clientMain = path.join(repo, 'apps/client/dist/main.js');
/** Where the chart installs the traffic-manager. */
export const managerNamespace = 'ambassador';

export interface Exec {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export function execAsync(
  cmd: string,
  args: readonly string[],
  timeoutMs = 60_000,
  env?: NodeJS.ProcessEnv,
  input?: string,
): Promise<Exec> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      [...args],
      { timeout: timeoutMs, encoding: 'utf8', env: env ?? process.env },
      (error, stdout, stderr) => {
        resolve({
          stdout,
          stderr,
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
        });
      },
    );
    child.stdin?.end(input);
  });
}

type Poll<T> = () => Promise<T | undefined> | T | undefined;

/** An `until` whose default timeout and poll interval are the given ones. */
export function poller(defaults: { timeoutMs?: number; intervalMs?: number } = {}) {
  const intervalMs = defaults.intervalMs ?? 250;
  return async <T>(what: string, fn: Poll<T>, timeoutMs = defaults.timeoutMs ?? 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
}

/** Polls `fn` until it returns something other than undefined (30 s, every 250 ms by default). */
export const until = poller();

export const isReady = (p: V1Pod): boolean =>
  p.metadata?.deletionTimestamp === undefined &&
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export const describeRoot = needs('root').describe;

/** The image map that runs this repository's built traffic-manager and traffic-agent. */
export const demoImages = path.join(repo, 'tools/demo/images.json');

/** A devcluster named `<prefix><random>`, running this repository's builds. */
export function startCluster(
  prefix: string,
  options: { randomChars?: number; recursiveDns?: boolean; images?: readonly string[] } = {},
): Promise<DevCluster> {
  const suffix = Math.random()
    .toString(36)
    .slice(2, 2 + (options.randomChars ?? 4));
  return startDevCluster({
    name: `${prefix}${suffix}`,
    nodes: 2,
    images: [demoImages, ...(options.images ?? [])],
    ...(options.recursiveDns === true ? { recursiveDns: true } : {}),
  });
}

/**
 * The whole chart rendered by `helm template` (`--set` each of `values`), RBAC objects included:
 * devcluster enforces RBAC, so the manager runs with exactly the chart's permissions.
 */
export function renderChart(
  options: { release?: string; namespace?: string; values?: readonly string[] } = {},
): string {
  const rendered = execFileSync(
    helm,
    [
      'template',
      options.release ?? 'traffic-manager',
      path.join(repo, 'charts/telepresence'),
      '--namespace',
      options.namespace ?? managerNamespace,
      ...(options.values ?? []).flatMap((v) => ['--set', v]),
    ],
    { encoding: 'utf8' },
  );
  return rendered;
}

/** The cluster's API as the host sees it. */
export function clusterApi(cluster: DevCluster): { kc: KubeConfig; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.hostKubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/** Clients for the cluster's API and the manager's namespace created; then the chart rendered and applied. */
export async function installManager(
  cluster: DevCluster,
  chart: { release?: string; values?: readonly string[] } = {},
): Promise<{ kc: KubeConfig; core: CoreV1Api }> {
  const { kc, core } = clusterApi(cluster);
  await core.createNamespace({ body: { metadata: { name: managerNamespace } } });
  await applyManifests(cluster.hostKubeconfig, renderChart(chart), () => undefined);
  return { kc, core };
}

/** Applies manifests (YAML text) to the cluster. */
export const apply = (cluster: DevCluster, yaml: string): Promise<void> =>
  applyManifests(cluster.hostKubeconfig, yaml, () => undefined);

export const echoYaml = (): string => readFileSync(path.join(repo, 'tools/demo/echo.yaml'), 'utf8');
export const echoFixtureYaml = (): string =>
  readFileSync(path.join(repo, 'tools/devcluster/test/fixtures/echo.yaml'), 'utf8');

export interface PortForwarded {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Local TCP port that forwards every connection to a pod port through the API server (pods/portforward).
 * close() also ends the connections still open.
 */
export async function portForward(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  port: number,
): Promise<PortForwarded> {
  const pf = new PortForward(kc);
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    // client-node keeps writing after the pod side went away; drop those writes instead of throwing.
    const output = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (socket.writable) socket.write(chunk, () => cb());
        else cb();
      },
      final(cb) {
        socket.end();
        cb();
      },
    });
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    pf.portForward(namespace, pod, [port], output, null, socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

/** Client options that put `authorization: Bearer <token>` on every call (the manager's auth.mode enforcing). */
export function bearerOptions(token: string): ClientOptions {
  return {
    interceptors: [
      (options, next) =>
        new InterceptingCall(next(options), {
          start(metadata, listener, nextStart) {
            metadata.set('authorization', `Bearer ${token}`);
            nextStart(metadata, listener);
          },
        }),
    ],
  };
}

/**
 * A token the manager accepts from a client: a TokenRequest (as `kc`'s user) for the chart's service
 * account traffic-manager-client, audience telepresence-manager (what the CLI does for certificate users).
 */
export async function managerClientToken(kc: KubeConfig, namespace = managerNamespace): Promise<string> {
  const r = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: 'traffic-manager-client',
    namespace,
    body: { spec: { audiences: ['telepresence-manager'], expirationSeconds: 3600 } },
  });
  return r.status?.token ?? '';
}

export type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (e: ServiceError | null, r: Res) => void,
) => unknown;

/** A unary manager call as a promise, with a deadline. */
export function unaryCall(deadlineMs: number) {
  return <Req, Res>(client: ManagerClient, method: Unary<Req, Res>, req: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      method.call(
        client,
        req,
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (e: ServiceError | null, r: Res) => (e ? reject(e) : resolve(r)),
      ),
    );
}

/** One resource record of a DNS answer, decoded. */
export const decodeRecord = (b: Uint8Array) =>
  (dnsPacket as unknown as { answer: { decode(b: Buffer): { type: string; data: unknown } } }).answer.decode(
    Buffer.from(b),
  );

export interface WsResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/**
 * Runs commands in the workstation namespace with TELEPRESENCE_RUN_DIR set (stdin closed, so nothing waits
 * on it; killed at the timeout).
 */
export function workstationRunner(cluster: () => DevCluster, runDir: () => string) {
  return (argv: readonly string[], timeoutMs = 30_000): Promise<WsResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', cluster().workstationNetns, ...argv], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TELEPRESENCE_RUN_DIR: runDir() },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out, err });
      });
    });
}

export interface TpCluster {
  readonly cluster: DevCluster;
  readonly core: CoreV1Api;
  readonly work: string;
  down(): Promise<void>;
}

export async function startTpCluster(options: { recursiveDns?: boolean } = {}): Promise<TpCluster> {
  const work = mkdtempSync(path.join(tmpdir(), 'tp-e2e-'));
  const cluster = await startCluster('rs', options);
  try {
    const { core } = await installManager(cluster);
    await apply(cluster, echoYaml());
    await until(
      'ready pods',
      async () => {
        const pods = await core.listPodForAllNamespaces();
        const ready = pods.items.filter((p) => p.status?.containerStatuses?.every((c) => c.ready) === true);
        return pods.items.length >= 3 && ready.length === pods.items.length ? true : undefined;
      },
      90_000,
    );
    return {
      cluster,
      core,
      work,
      async down() {
        await cluster.down();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cluster.down();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/** Runs commands in the workstation: plain `ip netns exec`, or nsenter into a holder's mount namespace. */
export interface Workstation {
  exec(cmd: string, args: readonly string[], timeoutMs?: number): Promise<Exec>;
}

export function plainWorkstation(tp: TpCluster): Workstation {
  return {
    exec: (cmd, args, timeoutMs) =>
      execAsync('ip', ['netns', 'exec', tp.cluster.workstationNetns, cmd, ...args], timeoutMs),
  };
}

export interface StatusJson {
  connected: boolean;
  dns?: { mode: string; probeReason: string; recursionCheck: string; upstream: string };
  counters?: { dnsQueries: number | string };
}

/** The telepresence CLI in a workstation, with a run directory of its own. */
export function telepresence(ws: Workstation, runDir: string, kubeconfig: string) {
  const tp = (args: readonly string[], timeoutMs = 90_000) =>
    ws.exec('env', [`TELEPRESENCE_RUN_DIR=${runDir}`, process.execPath, clientMain, ...args], timeoutMs);
  return {
    async connect(extra: readonly string[] = []): Promise<Exec> {
      const r = await tp(['connect', '--kubeconfig', kubeconfig, ...extra]);
      if (r.code !== 0) throw new Error(`telepresence connect failed: ${r.stdout}${r.stderr}`);
      return r;
    },
    async status(): Promise<StatusJson> {
      const r = await tp(['status', '--output', 'json']);
      return JSON.parse(r.stdout) as StatusJson;
    },
    statusText: async (): Promise<string> => (await tp(['status'])).stdout,
    quit: (): Promise<Exec> => tp(['quit']),
  };
}

export function tempFile(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}
