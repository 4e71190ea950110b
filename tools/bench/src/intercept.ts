// Intercept latency on devcluster (root only): how long `telepresence intercept WORKLOAD --port ...` takes
// to ACTIVE and until the first in-cluster request reaches the workstation's local app, for the first
// intercept of a workload (the manager enables the agent: annotate, roll, inject, agent arrives) and for a
// second one (agent already there). The first intercept's time is broken into phases from the API's watch
// events and the manager's and agents' logs. `npm run bench -- intercept`.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Watch, type V1Pod } from '@kubernetes/client-node';
import { applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import { fmt, median, printTable, type BenchSuite } from './report.js';
import { installTrafficManager } from './traffic-manager.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The CLI measured (BENCH_INTERCEPT_CLI: another build's main.js, e.g. for a before/after pair of runs). */
const client = process.env['BENCH_INTERCEPT_CLI'] ?? path.join(repo, 'apps/client/dist/main.js');
/** Extra devcluster image maps (comma-separated), e.g. to run another build's traffic-agent. */
const extraImages = (process.env['BENCH_INTERCEPT_IMAGES'] ?? '').split(',').filter((f) => f !== '');
const ROUNDS = Number(process.env['BENCH_INTERCEPT_ROUNDS'] ?? 3);
/** Another build's CLI (e.g. main's apps/client/dist/main.js) whose second intercepts are timed alternately. */
const BASELINE_CLI = process.env['BENCH_INTERCEPT_BASELINE_CLI'];
const LOCAL_PORT = 8080;

/** A Deployment (2 replicas, like the demo's echo) and its Service, named `name`. */
const workloadYaml = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default, labels: {app: ${name}}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: echo
          image: echo:latest
          ports:
            - {name: http, containerPort: 8080}
            - {name: tcp, containerPort: 9000}
            - {name: udp, containerPort: 9001, protocol: UDP}
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
          readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  selector: {app: ${name}}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: tcp, port: 9000, targetPort: tcp}
    - {name: udp, port: 9001, targetPort: udp, protocol: UDP}
`;

const callerYaml = `apiVersion: v1
kind: Pod
metadata: {name: caller, namespace: default}
spec:
  containers: [{name: caller, image: echo:latest}]
`;

// The workstation's local app: prints "<epoch ms> <path>" for each request.
const localServer = `require('http').createServer((q, s) => { process.stdout.write(Date.now() + ' ' + q.url + '\\n');
  s.end('local'); }).listen(${LOCAL_PORT}, '127.0.0.1', () => process.stdout.write('listening\\n'))`;

// In the caller pod: a request to the service every 50 ms (a new connection each), tagged with the round.
const callerScript = `const http = require('http'); let tag = 'none'; let ip = '';
process.stdin.on('data', (d) => { const [t, i] = String(d).trim().split(' '); tag = t; ip = i; });
setInterval(() => { if (ip === '' || tag === 'idle') return;
  const r = http.get({ host: ip, port: 80, path: '/' + tag, agent: false, timeout: 1000 }, (res) => res.resume());
  r.on('error', () => undefined); r.on('timeout', () => r.destroy()); }, 50);`;

interface PhaseTimes {
  [phase: string]: number;
}

interface Round {
  firstActive: number;
  firstRequest: number;
  secondActive: number;
  secondRequest: number;
  /** Second intercepts by the baseline CLI, when one is given. */
  baselineActive: number;
  baselineRequest: number;
  /** CPU time of the `intercept` CLI process itself. */
  firstCpu: number;
  secondCpu: number;
  baselineCpu: number;
  phases: PhaseTimes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** Pino JSON lines of a log: the first line whose msg matches, its time. */
function logTime(text: string, msg: RegExp): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { time?: number; msg?: string };
      if (typeof j.msg === 'string' && msg.test(j.msg) && typeof j.time === 'number') return j.time;
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

async function bench(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'ic-bench-'));
  const env = { ...process.env, TELEPRESENCE_RUN_DIR: path.join(work, 'run') };
  let cluster: DevCluster | undefined;
  const children: ChildProcess[] = [];
  let abortWatch: (() => void) | undefined;
  try {
    cluster = await startDevCluster({
      name: `bi${Math.random().toString(36).slice(2, 6)}`,
      nodes: 2,
      images: [path.join(repo, 'tools/demo/images.json'), ...extraImages],
    });
    const ws = cluster.workstationNetns;
    // The CLI under /usr/bin/time: `ip netns exec` execs node, so the CPU time is the CLI's own.
    const cpuFile = path.join(work, 'cli-cpu');
    const tpWith = async (cli: string, ...args: string[]) => {
      const argv = ['ip', 'netns', 'exec', ws, 'node', cli, ...args];
      if (!existsSync('/usr/bin/time')) return { ...(await run(argv, env)), cpuMs: Number.NaN };
      const r = await run(['/usr/bin/time', '-f', '%U %S', '-o', cpuFile, ...argv], env);
      const [user, sys] = readFileSync(cpuFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
      return { ...r, cpuMs: ((user ?? NaN) + (sys ?? NaN)) * 1000 };
    };
    const tp = (...args: string[]) => tpWith(client, ...args);
    const { kc, core } = await installTrafficManager(cluster, repo);
    const names = Array.from({ length: ROUNDS }, (_, i) => `echo${i + 1}`);
    await applyManifests(
      cluster.hostKubeconfig,
      [callerYaml, ...names.map(workloadYaml)].join('\n---\n'),
      () => undefined,
    );
    for (let i = 0; ; i++) {
      const pods = (await core.listPodForAllNamespaces()).items;
      const ready = pods.filter((p) => p.status?.containerStatuses?.every((c) => c.ready) === true);
      if (pods.length === 2 + 2 * ROUNDS && ready.length === pods.length) break;
      if (i > 480) throw new Error('the manager and workloads did not become ready');
      await sleep(250);
    }
    const mgrPod = (
      await core.listNamespacedPod({
        namespace: 'ambassador',
        labelSelector: 'app.kubernetes.io/name=traffic-manager',
      })
    ).items[0]!.metadata!.name!;

    // Pod events as they happen (host clock), for the phases.
    const podSeen = new Map<string, { added: number; agentRunning?: number; ready?: number; pod: V1Pod }>();
    const watch = new Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/default/pods',
      {},
      (_type: string, pod: V1Pod) => {
        const t = Date.now();
        const name = pod.metadata?.name ?? '';
        const seen = podSeen.get(name) ?? { added: t, pod };
        seen.pod = pod;
        const agent = pod.status?.containerStatuses?.find((c) => c.name === 'traffic-agent');
        if (agent?.state?.running !== undefined) seen.agentRunning ??= t;
        if ((pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
          seen.ready ??= t;
        podSeen.set(name, seen);
      },
      () => undefined,
    );
    abortWatch = () => req.abort();

    const local = spawn('ip', ['netns', 'exec', ws, 'node', '-e', localServer], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(local);
    const requests: Array<{ t: number; path: string }> = [];
    let localLines = '';
    local.stdout!.on('data', (d: Buffer) => {
      localLines += d.toString();
      let nl;
      while ((nl = localLines.indexOf('\n')) >= 0) {
        const [t, p] = localLines.slice(0, nl).split(' ');
        localLines = localLines.slice(nl + 1);
        if (p !== undefined) requests.push({ t: Number(t), path: p });
      }
    });
    const caller = cluster.spawn('pod/default/caller', ['node', '-e', callerScript], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    children.push(caller);
    const firstRequest = async (tag: string, t0: number): Promise<number> => {
      for (let i = 0; i < 1200; i++) {
        const r = requests.find((x) => x.path === `/${tag}`);
        if (r !== undefined) return r.t - t0;
        await sleep(25);
      }
      return Number.NaN;
    };

    const c = await tp('connect', '--kubeconfig', cluster.kubeconfig);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}`);

    const rounds: Round[] = [];
    for (const name of names) {
      const svc = await core.readNamespacedService({ name, namespace: 'default' });
      const intercept = async (tag: string, cli = client) => {
        caller.stdin!.write(`${tag} ${svc.spec!.clusterIP!}\n`);
        const t0 = Date.now();
        const r = await tpWith(cli, 'intercept', name, '--port', `${LOCAL_PORT}:http`, '-o', 'json');
        if (r.code !== 0) throw new Error(`intercept ${name}: ${r.out}`);
        // The CLI answers WAITING after its own wait (a minute); then `list` tells when it is ACTIVE.
        while ((JSON.parse(r.out) as { state?: string }).state !== 'ACTIVE') {
          const l = await tp('list', '-o', 'json');
          const w = (JSON.parse(l.out) as Array<{ name: string; interceptState: string }>).find(
            (x) => x.name === name,
          );
          if (w?.interceptState === 'ACTIVE') break;
          if (Date.now() - t0 > 90_000) {
            const pods = (await core.listNamespacedPod({ namespace: 'default' })).items.map(
              (p) =>
                `${p.metadata?.name} ${p.status?.phase} [${p.spec?.containers.map((x) => x.name).join(',')}]`,
            );
            const mgr = await core.readNamespacedPodLog({ name: mgrPod, namespace: 'ambassador' });
            throw new Error(
              `intercept ${name} not ACTIVE: ${l.out}\npods: ${pods.join('; ')}\nmanager log tail:\n${mgr
                .split('\n')
                .slice(-15)
                .join('\n')}`,
            );
          }
          await sleep(250);
        }
        const active = Date.now() - t0;
        const cpu = r.cpuMs;
        return { t0, active, cpu, request: await firstRequest(tag, t0) };
      };
      const first = await intercept(`${name}-1`);
      caller.stdin!.write('idle 0\n');
      const left = await tp('leave', name);
      if (left.code !== 0) throw new Error(`leave ${name}: ${left.out}`);
      // Second intercepts, alternating with the baseline CLI's when there is one.
      const seconds = { ours: [] as number[][], base: [] as number[][] };
      for (const [i, cli] of (BASELINE_CLI === undefined
        ? [client]
        : [client, BASELINE_CLI, BASELINE_CLI, client]
      ).entries()) {
        const r = await intercept(`${name}-2${i}`, cli);
        caller.stdin!.write('idle 0\n');
        await tp('leave', name);
        (cli === client ? seconds.ours : seconds.base).push([r.active, r.request, r.cpu]);
      }
      const second = {
        active: median(seconds.ours.map((x) => x[0]!)),
        request: median(seconds.ours.map((x) => x[1]!)),
        cpu: median(seconds.ours.map((x) => x[2]!)),
      };

      // Phases of the first intercept.
      const mgrLog = await core.readNamespacedPodLog({ name: mgrPod, namespace: 'ambassador' });
      const enabledLines = mgrLog.split('\n').filter((l) => l.includes(`"workload":"${name}"`));
      const enabled = logTime(enabledLines.join('\n'), /traffic-agent enabled/);
      const newPods = [...podSeen.values()].filter(
        (s) =>
          s.pod.metadata?.labels?.['app'] === name &&
          s.pod.spec?.containers.some((x) => x.name === 'traffic-agent') === true,
      );
      let firstArrival: { started: number; arrived: number; pod: (typeof newPods)[number] } | undefined;
      for (const p of newPods) {
        const log = await core.readNamespacedPodLog({
          name: p.pod.metadata!.name!,
          namespace: 'default',
          container: 'traffic-agent',
        });
        const started = logTime(log, /traffic-agent starting/);
        const arrived = logTime(log, /arrived at the traffic-manager/);
        if (started !== undefined && arrived !== undefined && arrived < (firstArrival?.arrived ?? Infinity))
          firstArrival = { started, arrived, pod: p };
      }
      const t0 = first.t0;
      const at = (t: number | undefined) => (t === undefined ? Number.NaN : t - t0);
      const phases: PhaseTimes = {
        'CLI start -> manager enabled the agent (annotated)': at(enabled),
        '-> first new pod created (admitted, injected)': at(firstArrival?.pod.added),
        '-> its agent container running (kubelet)': at(firstArrival?.pod.agentRunning),
        '-> agent process logs "starting"': at(firstArrival?.started),
        '-> agent arrived at the manager': at(firstArrival?.arrived),
        '-> CLI returned ACTIVE': first.active,
        '-> first request reached the local app': first.request,
      };
      rounds.push({
        firstActive: first.active,
        firstRequest: first.request,
        secondActive: second.active,
        secondRequest: second.request,
        baselineActive: median(seconds.base.map((x) => x[0]!)),
        baselineRequest: median(seconds.base.map((x) => x[1]!)),
        firstCpu: first.cpu,
        secondCpu: second.cpu,
        baselineCpu: median(seconds.base.map((x) => x[2]!)),
        phases,
      });
      console.log(
        `  ${name}: first ${fmt(first.active, 0)} / ${fmt(first.request, 0)} ms, second ${fmt(second.active, 0)} / ${fmt(second.request, 0)} ms`,
      );
    }

    const col = (f: (r: Round) => number) => fmt(median(rounds.map(f)), 0);
    printTable(
      `Intercept latency (devcluster, 2 replicas, median of ${rounds.length}; loadavg ${(
        await run(['cat', '/proc/loadavg'], env)
      ).out.trim()})`,
      ['intercept', 'to ACTIVE (CLI returns) ms', 'to first request at the local app ms', 'CLI CPU ms'],
      [
        [
          'first (agent enabled, workload rolls)',
          col((r) => r.firstActive),
          col((r) => r.firstRequest),
          col((r) => r.firstCpu),
        ],
        [
          'second (agent present)',
          col((r) => r.secondActive),
          col((r) => r.secondRequest),
          col((r) => r.secondCpu),
        ],
        ...(BASELINE_CLI === undefined
          ? []
          : [
              [
                'second, baseline CLI (alternating)',
                col((r) => r.baselineActive),
                col((r) => r.baselineRequest),
                col((r) => r.baselineCpu),
              ],
            ]),
      ],
    );
    const phaseNames = Object.keys(rounds[0]?.phases ?? {});
    printTable(
      'First intercept: phases (ms since the CLI started, median)',
      ['phase', 'at ms', 'step ms'],
      phaseNames.map((p, i) => {
        const at = median(rounds.map((r) => r.phases[p] ?? Number.NaN));
        const prev = i === 0 ? 0 : median(rounds.map((r) => r.phases[phaseNames[i - 1]!] ?? Number.NaN));
        return [p, fmt(at, 0), fmt(at - prev, 0)];
      }),
    );
    const keep = process.env['BENCH_INTERCEPT_LOGS'];
    if (keep !== undefined) {
      // Time-stamped logs of the run (manager, agents, daemon) for a closer look.
      mkdirSync(keep, { recursive: true });
      for (const p of (await core.listPodForAllNamespaces()).items)
        for (const c of p.spec?.containers ?? [])
          writeFileSync(
            path.join(keep, `${p.metadata!.name!}.${c.name}.log`),
            await core
              .readNamespacedPodLog({
                name: p.metadata!.name!,
                namespace: p.metadata!.namespace!,
                container: c.name,
              })
              .catch((e: unknown) => String(e)),
          );
      cpSync(path.join(work, 'run/daemon.log'), path.join(keep, 'daemon.log'));
    }
  } finally {
    abortWatch?.();
    for (const ch of children) ch.kill();
    if (cluster) {
      await run(['ip', 'netns', 'exec', cluster.workstationNetns, 'node', client, 'quit'], env);
      await cluster.down();
    }
    rmSync(work, { recursive: true, force: true });
  }
}

const suite: BenchSuite = {
  name: 'intercept',
  async run() {
    if (process.getuid?.() !== 0) {
      console.log('\n## Intercept latency\n\nskipped: needs root (devcluster)');
      return;
    }
    await bench();
  },
};

export default suite;
