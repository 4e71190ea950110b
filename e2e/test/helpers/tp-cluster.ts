// A devcluster with the traffic-manager (chart rendered by `helm template`) and the echo service, plus a
// telepresence CLI runner for the workstation namespace, optionally inside a mount namespace of ours
// (see ResolvedHome). Built apps are used: apps/client/dist, apps/traffic-manager/dist.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import { parseAllDocuments, stringify } from 'yaml';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const helm = path.join(repo, 'tools/bin/helm');
const clientMain = path.join(repo, 'apps/client/dist/main.js');

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

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
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
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface TpCluster {
  readonly cluster: DevCluster;
  readonly core: CoreV1Api;
  readonly work: string;
  down(): Promise<void>;
}

export async function startTpCluster(options: { recursiveDns?: boolean } = {}): Promise<TpCluster> {
  const work = mkdtempSync(path.join(tmpdir(), 'tp-e2e-'));
  const cluster = await startDevCluster({
    name: `rs${Math.random().toString(36).slice(2, 6)}`,
    nodes: 2,
    images: [path.join(repo, 'tools/demo/images.json')],
    ...(options.recursiveDns === true ? { recursiveDns: true } : {}),
  });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.hostKubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'ambassador' } } });
    const rendered = execFileSync(
      helm,
      ['template', 'traffic-manager', path.join(repo, 'charts/telepresence'), '--namespace', 'ambassador'],
      { encoding: 'utf8' },
    );
    // devcluster serves no RBAC API (and enforces none): those objects are left out.
    const docs = parseAllDocuments(rendered)
      .map((d) => d.toJS() as { apiVersion: string } | null)
      .filter(
        (d): d is { apiVersion: string } =>
          d !== null && !d.apiVersion.startsWith('rbac.authorization.k8s.io'),
      )
      .map((d) => stringify(d))
      .join('---\n');
    await applyManifests(cluster.hostKubeconfig, docs, () => undefined);
    await applyManifests(
      cluster.hostKubeconfig,
      readFileSync(path.join(repo, 'tools/demo/echo.yaml'), 'utf8'),
      () => undefined,
    );
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
