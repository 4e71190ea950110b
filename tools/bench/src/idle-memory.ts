// Resident memory per idle tunneled TCP connection (issue 15, item 5): python sockets in the workstation
// namespace open MEMORY_BENCH_CONNS (default 10,000) connections through the VIF to a pod's asyncio echo
// server, each exchanges 16 bytes, then all sit idle. Reported per process: RSS before and with them open
// (after forced GCs), the delta per connection, and the heap and off-heap shares of it, for the client
// daemon and the traffic-manager; the echo server (a plain asyncio server on kernel sockets) is the
// reference. After they close: RSS, and the heap still used (a leak would show there). Root only; a
// devcluster of its own. `npm run bench -- memory`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import { fmt, loadavg, printTable } from './report.js';
import {
  cpuShares,
  gcAndUsage,
  inNs,
  netnsOf,
  openInspector,
  podProcess,
  readyPod,
  rssBytes,
  type HeapUsage,
} from './procs.js';
import type { BenchSuite } from './report.js';
import { installTrafficManager } from './traffic-manager.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PORT = 7000;
const WARMUP = 200;
/** How long idle CPU is measured, with no connections and with all of them open. */
const IDLE_CPU_MS = 10_000;
/** Where heap snapshots go (before/after, per process) for heap-summary.js; unset = none. */
const SNAPSHOTS = process.env['MEMORY_BENCH_SNAPSHOTS'];

const echoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: idle-echo, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: idle-echo}}
  template:
    metadata: {labels: {app: idle-echo}}
    spec:
      containers:
        - name: echo
          image: idle-echo
          ports: [{containerPort: ${PORT}}]
          readinessProbe: {tcpSocket: {port: ${PORT}}}
`;

/** python idle_clients.py in the workstation: one JSON line per command (see the script). */
class IdleClients {
  private readonly lines: AsyncIterator<string>;
  constructor(private readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  async next(timeoutMs: number): Promise<Record<string, unknown>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`idle clients: no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const line = await Promise.race([this.lines.next(), timeout]);
      if (line.done === true) throw new Error('idle clients exited');
      return JSON.parse(line.value) as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
    }
  }

  async command(cmd: 'check' | 'close', timeoutMs: number): Promise<Record<string, unknown>> {
    this.child.stdin!.write(`${cmd}\n`);
    return this.next(timeoutMs);
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

function startClients(ns: string, host: string, n: number): IdleClients {
  const script = path.join(repo, 'tools/bench/python/idle_clients.py');
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', script, host, String(PORT), String(n)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new IdleClients(child);
}

interface Measured {
  name: string;
  pid: number;
  /** Namespace of a Node process whose inspector we use; undefined for the reference. */
  netns: string | undefined;
}

interface Sample {
  rss: number;
  heap: HeapUsage | undefined;
}

/** Forced GCs (Node processes), then a second for the allocator to return pages; RSS after that. */
async function sample(p: Measured, label: string): Promise<Sample> {
  const snapshot =
    SNAPSHOTS === undefined
      ? undefined
      : path.join(SNAPSHOTS, `${p.name.split(' ')[0]}-${label}.heapsnapshot`);
  const heap = p.netns === undefined ? undefined : gcAndUsage(p.netns, snapshot);
  await new Promise((r) => setTimeout(r, 1000));
  return { rss: rssBytes(p.pid), heap };
}

async function sampleAll(procs: Measured[], label: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const p of procs) out.push(await sample(p, label));
  return out;
}

/**
 * Samples again until the flows are gone: until the Node processes' heaps are back within 0.5 KiB per
 * connection of `before`, or stop shrinking (a leak), for at most 30 s. 10,000 closes take a while
 * through the tunnel on a loaded machine.
 */
async function afterClose(procs: Measured[], before: Sample[], count: number): Promise<Sample[]> {
  let last: Sample[] = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const now = await sampleAll(procs, 'after');
    const kept = (s: Sample[], j: number): number =>
      (s[j]?.heap?.heapUsed ?? 0) - (before[j]?.heap?.heapUsed ?? 0);
    const settled = procs.every(
      (p, j) =>
        p.netns === undefined || kept(now, j) < count * 512 || (i > 0 && kept(now, j) >= kept(last, j)),
    );
    last = now;
    if (settled) break;
  }
  return last;
}

async function run(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\n## Idle connection memory\n\nskipped: needs root (network namespaces, TUN, nft)');
    return;
  }
  const n = Number(process.env['MEMORY_BENCH_CONNS'] ?? 10_000);
  const work = mkdtempSync(path.join(tmpdir(), 'mem-bench-'));
  const images = path.join(work, 'images.json');
  const server = path.join(repo, 'tools/bench/python/idle_echo_server.py');
  writeFileSync(images, JSON.stringify({ 'idle-echo': { command: ['python3', server, String(PORT)] } }));
  const env = { ...process.env, TELEPRESENCE_RUN_DIR: path.join(work, 'run') };
  const client = path.join(repo, 'apps/client/dist/main.js');
  let cluster: DevCluster | undefined;
  let clients: IdleClients | undefined;
  try {
    cluster = await startDevCluster({
      name: `mem${Math.random().toString(36).slice(2, 5)}`,
      nodes: 1,
      images: [path.join(repo, 'tools/demo/images.json'), images],
    });
    const ws = cluster.workstationNetns;
    const { core } = await installTrafficManager(cluster, repo);
    await applyManifests(cluster.hostKubeconfig, echoDeployment, () => undefined);
    const echoPod = await readyPod(core, 'default', 'app=idle-echo');
    const managerPod = await readyPod(core, 'ambassador', 'app.kubernetes.io/name=traffic-manager');
    const podIp = echoPod.status!.podIP!;

    const c = inNs(ws, ['node', client, 'connect', '--kubeconfig', cluster.kubeconfig], env);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}${c.err}`);
    const state = JSON.parse(readFileSync(path.join(env.TELEPRESENCE_RUN_DIR, 'state.json'), 'utf8')) as {
      pid: number;
    };
    const managerPid = podProcess(managerPod, 'traffic-manager/dist/main.js');
    const procs: Measured[] = [
      { name: 'client daemon', pid: state.pid, netns: ws },
      { name: 'traffic-manager', pid: managerPid, netns: netnsOf(managerPid) },
      {
        name: 'echo server (python asyncio, reference)',
        pid: podProcess(echoPod, 'python3'),
        netns: undefined,
      },
    ];
    for (const p of procs) if (p.netns !== undefined) openInspector(p.pid);

    // Warm-up: code paths compiled, the tunnel connection made, pools filled; then the baseline.
    const warm = startClients(ws, podIp, WARMUP);
    const warmed = await warm.next(60_000);
    await warm.command('close', 30_000);
    warm.stop();
    if (warmed['opened'] !== WARMUP) throw new Error(`warm-up failed: ${JSON.stringify(warmed)}`);
    await new Promise((r) => setTimeout(r, 2000)); // TIME_WAIT and stream ends settle
    const before = await sampleAll(procs, 'before');
    // Idle CPU: a connected daemon and a manager with nothing to do should not spin (timers, polling).
    const idleCpuBefore = await cpuShares(
      procs.map((p) => p.pid),
      IDLE_CPU_MS,
    );

    clients = startClients(ws, podIp, n);
    const opened = await clients.next(600_000);
    await new Promise((r) => setTimeout(r, 3000));
    const open = await sampleAll(procs, 'open');
    const idleCpuOpen = await cpuShares(
      procs.map((p) => p.pid),
      IDLE_CPU_MS,
    );
    const check = await clients.command('check', 120_000);
    await clients.command('close', 60_000);
    clients.stop();
    clients = undefined;
    const after = await afterClose(procs, before, Number(opened['opened']));

    const count = Number(opened['opened']);
    const mib = (b: number): string => fmt(b / 2 ** 20, 1);
    const perConn = (b: number): string => fmt(b / count / 1024, 2);
    const rows = procs.map((p, i) => {
      const [b, o, a] = [before[i]!, open[i]!, after[i]!];
      const heap = (f: (h: HeapUsage) => number, at = o): string =>
        b.heap && at.heap ? perConn(f(at.heap) - f(b.heap)) : '';
      return [
        p.name,
        mib(b.rss),
        mib(o.rss),
        perConn(o.rss - b.rss),
        heap((h) => h.heapUsed),
        heap((h) => h.external),
        mib(a.rss),
        heap((h) => h.heapUsed, a),
        fmt(idleCpuBefore[i]! * 100, 2),
        fmt(idleCpuOpen[i]! * 100, 2),
      ];
    });
    printTable(
      `Idle connection memory: ${count} idle TCP connections through the VIF (python sockets -> pod asyncio echo), after forced GCs (devcluster, ${new Date().toISOString()}, load ${loadavg()})`,
      [
        'process',
        'RSS before MiB',
        `RSS open MiB`,
        'RSS KiB/conn',
        'heap used KiB/conn',
        'external KiB/conn',
        'RSS after close MiB',
        'heap kept KiB/conn',
        'idle CPU % (none open)',
        `idle CPU % (${count} open)`,
      ],
      rows,
    );
    console.log(
      `\nopened ${count} of ${n} in ${String(opened['seconds'])} s (failed ${String(opened['failed'])}${
        Number(opened['failed']) > 0 ? `: ${JSON.stringify(opened['errors'])}` : ''
      }); round trip on each while open: ok ${String(check['ok'])}, failed ${String(check['failed'])}; goal <= 16 KiB/conn`,
    );
  } finally {
    clients?.stop();
    if (cluster) {
      inNs(cluster.workstationNetns, ['node', client, 'quit'], env);
      await cluster.down();
    }
    rmSync(work, { recursive: true, force: true });
  }
}

const suite: BenchSuite = { name: 'memory', run };
export default suite;
