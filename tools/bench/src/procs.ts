// Processes of a devcluster run, for the benchmarks: commands in a network namespace, a pod's process
// (devcluster's containerID names the process it started), resident memory, and a Node process's heap
// after forced GCs (through its inspector, opened with SIGUSR1; see inspect-gc.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

export function inNs(
  ns: string,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { code: number; out: string; err: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** At least `want` pods matching labelSelector that are Ready (with an IP), waited for up to timeoutMs. */
export async function readyPods(
  core: CoreV1Api,
  namespace: string,
  labelSelector: string,
  want = 1,
  timeoutMs = 60_000,
): Promise<V1Pod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector });
    const ready = pods.items.filter(
      (p) =>
        p.status?.podIP !== undefined &&
        (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length >= want) return ready;
    if (Date.now() > deadline) throw new Error(`fewer than ${want} ready pods ${namespace}/${labelSelector}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The first pod matching labelSelector that is Ready, waited for up to timeoutMs. */
export async function readyPod(
  core: CoreV1Api,
  namespace: string,
  labelSelector: string,
  timeoutMs = 30_000,
): Promise<V1Pod> {
  return (await readyPods(core, namespace, labelSelector, 1, timeoutMs))[0]!;
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** `root` or its descendant whose command line contains `match` (a container's shell may exec or fork). */
export function processUnder(root: number, match: string): number {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of pids)
      if (!tree.has(p) && tree.has(parentOf(p))) {
        tree.add(p);
        grew = true;
      }
  }
  const found = [...tree].find((p) => cmdline(p).includes(match));
  if (found === undefined) throw new Error(`no process matching "${match}" under pid ${root}`);
  return found;
}

/** The process of a pod's first container matching `match` (containerID is devcluster://PID). */
export function podProcess(pod: V1Pod, match: string): number {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  const root = Number(id.replace('devcluster://', ''));
  if (!(root > 0)) throw new Error(`pod ${pod.metadata?.name ?? '?'} has no process (${id})`);
  return processUnder(root, match);
}

/** The network namespace (under /run/netns) a process is in. */
export function netnsOf(pid: number): string {
  const r = spawnSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' });
  const ns = r.stdout.trim().split('\n')[0] ?? '';
  if (ns === '') throw new Error(`pid ${pid} is in no named network namespace`);
  return ns;
}

/** CPU time (user + system) a process has used, seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/** The share of one core each process used over `ms` (1 = a whole core). */
export async function cpuShares(pids: readonly number[], ms: number): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const seconds = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => (cpuSeconds(pid) - before[i]!) / seconds);
}

/** VmRSS of a process, bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export interface HeapUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const inspectGc = path.join(path.dirname(new URL(import.meta.url).pathname), 'inspect-gc.js');

/** Opens a Node process's inspector (127.0.0.1:9229 in its namespace). Once per process. */
export function openInspector(pid: number): void {
  process.kill(pid, 'SIGUSR1');
}

/** Forces full GCs in a Node process (inspector open) and returns its memoryUsage(); optional snapshot. */
export function gcAndUsage(netns: string, snapshot?: string): HeapUsage {
  const argv = ['node', '--experimental-websocket', inspectGc, '9229'];
  const r = inNs(netns, snapshot === undefined ? argv : [...argv, snapshot]);
  if (r.code !== 0) throw new Error(`inspect-gc in ${netns} failed: ${r.err.trim()}`);
  return JSON.parse(r.out) as HeapUsage;
}
