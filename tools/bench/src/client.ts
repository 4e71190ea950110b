// Bulk TCP through the whole client path (iperf3 in the workstation -> VIF -> netstack -> tunnel ->
// port-forward -> traffic-manager -> pod) next to direct routing, a socat relay and sshuttle, measured in
// one run on a devcluster of our own (root only). Everything runs in that cluster's namespaces.
// Then, with python sockets (tools/loadgen) against a Python echo pod: connect latency, request/response
// round trip and 256 concurrent checked flows, through the whole path vs kernel routing, and the same
// through the product with `--manager-address` over a socat relay (the product's share without
// devcluster's port-forward). Latency runs alternate with their baselines (kernel routing, a socat
// relay), round by round, and each row's distance from its baseline is the median of the rounds'
// differences. `npm run bench -- client`.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { addresses, applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import type { BenchSuite } from './report.js';
import { fmt, loadavg, printTable } from './report.js';
import { inNs, readyPods } from './procs.js';
import { installTrafficManager } from './traffic-manager.js';
import { sshuttleUnavailable, startSshuttle, type SshuttleRelay } from './sshuttle.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const loadgen = path.join(repo, 'tools/loadgen');
const SECONDS = 5;
const CONNECTS = 1000;
const ROUND_TRIPS = 3000;
const FLOWS = 256;

const iperfDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: iperf, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: iperf}}
  template:
    metadata: {labels: {app: iperf}}
    spec:
      containers:
        - name: iperf
          image: iperf3
          ports: [{name: iperf, containerPort: 5201}]
`;

/** iperf3 client for SECONDS (reverse: the server sends); Gbit/s received, or NaN with the reason logged. */
function iperfOnce(ns: string, host: string, port: number, reverse: boolean): number {
  const argv = ['iperf3', '-c', host, '-p', String(port), '-t', String(SECONDS), '-J'];
  // iperf3 -s serves one test at a time and may still be closing the last one: "busy", try again.
  for (let attempt = 0; ; attempt++) {
    const r = inNs(ns, reverse ? [...argv, '-R'] : argv);
    try {
      const json = JSON.parse(r.out) as {
        end?: { sum_received?: { bits_per_second: number } };
        error?: string;
      };
      if (json.error) throw new Error(json.error);
      return (json.end?.sum_received?.bits_per_second ?? Number.NaN) / 1e9;
    } catch (e) {
      const message = (e as Error).message;
      if (/busy/.test(message) && attempt < 5) {
        spawnSync('sleep', ['1']);
        continue;
      }
      console.log(`  iperf3 to ${host}:${port} failed: ${message} ${r.err.trim()}`);
      return Number.NaN;
    }
  }
}

/** Upload (the workstation sends) and download (the pod sends), Gbit/s, one value per round. */
interface Rates {
  up: number[];
  down: number[];
}
/** One more round of upload and download into `into` (a row of `results`, created on first use). */
function iperf(into: Record<string, Rates>, row: string, ns: string, host: string, port = 5201): void {
  const r = (into[row] ??= { up: [], down: [] });
  r.up.push(iperfOnce(ns, host, port, false));
  r.down.push(iperfOnce(ns, host, port, true));
}
const median = (v: readonly number[]): number => {
  const s = v.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? s[s.length >> 1]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/**
 * Rounds of each bulk row. 5-s iperf3 runs of one row spread by +-25% on this shared 2-core machine, and
 * rows measured minutes apart drift: so the rows are measured in turns, and medians compared.
 */
const ROUNDS = Number(process.env['CLIENT_BENCH_ROUNDS'] ?? 3);

/** A tools/loadgen script in a namespace; its JSON, or undefined with the reason logged. */
function loadgenRun<T>(ns: string, script: string, args: readonly (string | number)[]): T | undefined {
  const r = inNs(ns, ['python3', path.join(loadgen, script), ...args.map(String)]);
  try {
    return JSON.parse(r.out) as T;
  } catch {
    console.log(`  ${script} in ${ns} failed (${r.code}): ${r.err.trim().slice(-300)}`);
    return undefined;
  }
}

/** p50 and p99 of one run, ms. */
interface Percentiles {
  p50: number;
  p99: number;
}

/**
 * Connect latency and round trip of one path, one run per round, and how far each run was from its
 * baseline run just before it (kernel routing for connects, the socat relay for round trips): the machine
 * is shared, and a baseline measured minutes apart from the path read 3x slower at times. Plus the
 * 256-flow run.
 */
interface PathLoad {
  connect: Percentiles[];
  connectOver: Percentiles[];
  failed: number;
  rtt: Percentiles[];
  /** p50 only: the round trip's goal is on the median. */
  rttOver: number[];
  flows?: { counts: Record<string, number>; seconds: number };
}

const newLoad = (): PathLoad => ({ connect: [], connectOver: [], failed: 0, rtt: [], rttOver: [] });
const diff = (a: Percentiles, b: Percentiles): Percentiles => ({ p50: a.p50 - b.p50, p99: a.p99 - b.p99 });

function connects(ns: string, host: string, port: number): (Percentiles & { failed: number }) | undefined {
  return loadgenRun(ns, 'tcp_connects.py', [host, port, CONNECTS, 1]);
}
function roundTrips(ns: string, host: string, port: number): Percentiles | undefined {
  return loadgenRun(ns, 'tcp_rtt.py', [host, port, ROUND_TRIPS]);
}

/**
 * ROUNDS rounds of: connects by kernel routing, then through the path; round trips through the socat
 * relay (listening on 198.19.255.1:17000 in the router namespace), then through the path.
 */
function measureLatency(
  load: Record<string, PathLoad>,
  row: string,
  cluster: DevCluster,
  echoIp: string,
): void {
  const measured = (load[row] ??= newLoad());
  const kernel = (load[kernelRow] ??= newLoad());
  const socat = (load[socatRow] ??= newLoad());
  const ws = cluster.workstationNetns;
  for (let round = 0; round < ROUNDS; round++) {
    const k = connects(cluster.routerNetns, echoIp, 7000);
    const c = connects(ws, echoIp, 7000);
    if (k) kernel.connect.push(k);
    if (c) {
      measured.connect.push(c);
      measured.failed += c.failed;
      if (k) measured.connectOver.push(diff(c, k));
    }
    const s = roundTrips(ws, '198.19.255.1', 17000);
    const r = roundTrips(ws, echoIp, 7000);
    if (s) socat.rtt.push(s);
    if (r) {
      measured.rtt.push(r);
      if (s) measured.rttOver.push(r.p50 - s.p50);
    }
  }
}

function measureFlows(load: Record<string, PathLoad>, row: string, ns: string, echoIp: string): void {
  const f = loadgenRun<{ counts: Record<string, number>; seconds: number }>(ns, 'tcp_flows.py', [
    echoIp,
    7000,
    FLOWS,
    2,
    8,
  ]);
  if (f) (load[row] ??= newLoad()).flows = f;
}

function relay(ns: string, listen: string, target: string): ChildProcess {
  // nodelay on both legs: socat leaves Nagle on, which would add a delayed ACK to small frames.
  return spawn(
    'ip',
    ['netns', 'exec', ns, 'socat', `TCP-LISTEN:${listen},reuseaddr,fork,nodelay`, `TCP:${target},nodelay`],
    {
      stdio: 'ignore',
    },
  );
}

async function run(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\n## Client path (iperf3)\n\nskipped: needs root (network namespaces, TUN, nft)');
    return;
  }
  const work = mkdtempSync(path.join(tmpdir(), 'cl-bench-'));
  const images = path.join(work, 'images.json');
  writeFileSync(images, JSON.stringify({ iperf3: { command: ['iperf3', '-s', '-p', '5201'] } }));
  let cluster: DevCluster | undefined;
  let socat: ChildProcess | undefined;
  let rttRelay: ChildProcess | undefined;
  let sshuttle: SshuttleRelay | undefined;
  const env = { ...process.env, TELEPRESENCE_RUN_DIR: path.join(work, 'run') };
  const client = path.join(repo, 'apps/client/dist/main.js');
  try {
    cluster = await startDevCluster({
      name: `bn${Math.random().toString(36).slice(2, 6)}`,
      nodes: 1,
      images: [path.join(repo, 'tools/demo/images.json'), images, path.join(loadgen, 'images.json')],
    });
    const ws = cluster.workstationNetns;
    const { core } = await installTrafficManager(cluster, repo);
    await applyManifests(cluster.hostKubeconfig, iperfDeployment, () => undefined);
    await applyManifests(
      cluster.hostKubeconfig,
      readFileSync(path.join(loadgen, 'tcp-echo.yaml'), 'utf8'),
      () => undefined,
    );
    const ipOf = (pods: V1Pod[]): string => pods[0]?.status?.podIP ?? '';
    const podIp = ipOf(await readyPods(core, 'default', 'app=iperf'));
    const echoIp = ipOf(await readyPods(core, 'default', 'app=tcp-echo', 2));
    const managerIp = ipOf(await readyPods(core, 'ambassador', 'app.kubernetes.io/name=traffic-manager'));
    await new Promise((r) => setTimeout(r, 500)); // iperf3 -s listening
    const load: Record<string, PathLoad> = {};
    measureFlows(load, kernelRow, cluster.routerNetns, echoIp);

    const results: Record<string, Rates> = {};

    // sshuttle over ssh to an sshd in the router namespace: app -> iptables REDIRECT -> sshuttle -> ssh
    // -> sshd -> sshuttle server -> pod. Its REDIRECT of the pod CIDR cannot share the workstation with
    // the VIF's routes, so it runs first, on its own.
    const noSshuttle = sshuttleUnavailable();
    if (noSshuttle === undefined) {
      try {
        sshuttle = await startSshuttle({
          repo,
          serverNetns: cluster.routerNetns,
          serverAddress: addresses.apiServerIp, // the router's address on the workstation link
          serverPort: 2222,
          clientNetns: ws,
          subnet: addresses.podCidr,
        });
        // Rounds of its own too: one 5-s run of it read 0.275 and 0.293 Gbit/s down minutes apart, and it
        // is the divisor of the 10x goal.
        for (let round = 0; round < ROUNDS; round++) iperf(results, sshuttleRow, ws, podIp);
      } catch (e) {
        console.log(`  sshuttle failed: ${(e as Error).message}`); // the other rows still count
      }
      await sshuttle?.stop();
      sshuttle = undefined;
    } else {
      console.log(`  sshuttle: ${noSshuttle}`);
    }

    // The product, connected, in turns with direct routing and a socat relay (one user-space copy, like
    // our manager's dial) in the router namespace: app -> TUN -> netstack -> tunnel -> port-forward ->
    // traffic-manager -> pod. Direct routing runs from the router namespace: devcluster's router drops
    // forwarding from the workstation on purpose (only the product's VIF may reach pods).
    const c = inNs(ws, ['node', client, 'connect', '--kubeconfig', cluster.kubeconfig], env);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}${c.err}`);
    socat = relay(cluster.routerNetns, '15201,bind=198.19.255.1', `${podIp}:5201`);
    await new Promise((r) => setTimeout(r, 500));
    for (let round = 0; round < ROUNDS; round++) {
      iperf(results, directRow, cluster.routerNetns, podIp);
      iperf(results, socatBulkRow, ws, '198.19.255.1', 15201);
      iperf(results, productRow, ws, podIp);
    }
    socat.kill();
    socat = undefined;
    // The round trips' baseline: a socat relay in the router namespace to the echo pod, for the whole run.
    rttRelay = relay(cluster.routerNetns, '17000,bind=198.19.255.1', `${echoIp}:7000`);
    await new Promise((r) => setTimeout(r, 500));
    measureLatency(load, productRow, cluster, echoIp);
    measureFlows(load, productRow, ws, echoIp);
    inNs(ws, ['node', client, 'quit'], env);

    // The product's own share: --manager-address through a socat relay in the router namespace instead of
    // devcluster's port-forward (a Node.js WebSocket relay in its API server).
    socat = relay(cluster.routerNetns, '18081,bind=198.19.255.1', `${managerIp}:8081`);
    await new Promise((r) => setTimeout(r, 500));
    const direct = ['--manager-address', '198.19.255.1:18081'];
    const d = inNs(ws, ['node', client, 'connect', '--kubeconfig', cluster.kubeconfig, ...direct], env);
    if (d.code === 0) {
      for (let round = 0; round < ROUNDS; round++) iperf(results, productDirectRow, ws, podIp);
      measureLatency(load, productDirectRow, cluster, echoIp);
    } else console.log(`  connect --manager-address failed: ${d.out}${d.err}`);
    inNs(ws, ['node', client, 'quit'], env);
    socat.kill();
    socat = undefined;

    // Caller authentication's share of the data path (issue 19): the same product path with the manager's
    // auth.mode disabled. Reviews happen per session and are cached; a flow pays one cache lookup.
    const kubectl = (...args: string[]) =>
      execFileSync(path.join(repo, 'tools/bin/kubectl'), ['--kubeconfig', cluster!.hostKubeconfig, ...args], {
        encoding: 'utf8',
        timeout: 180_000,
      });
    kubectl('-n', 'ambassador', 'set', 'env', 'deployment/traffic-manager', 'AUTH_MODE=disabled');
    kubectl('-n', 'ambassador', 'rollout', 'status', 'deployment/traffic-manager', '--timeout=150s');
    const n = inNs(ws, ['node', client, 'connect', '--kubeconfig', cluster.kubeconfig], env);
    if (n.code === 0) {
      for (let round = 0; round < ROUNDS; round++) iperf(results, productNoAuthRow, ws, podIp);
      measureLatency(load, productNoAuthRow, cluster, echoIp);
    } else console.log(`  connect with auth.mode disabled failed: ${n.out}${n.err}`);
    inNs(ws, ['node', client, 'quit'], env);

    const rows: string[][] = [];
    const base = (r: Rates | undefined) => ({ up: median(r?.up ?? []), down: median(r?.down ?? []) });
    const kernel = base(results[directRow]);
    const socatRates = base(results[socatBulkRow]);
    const spread = (v: readonly number[]): string => {
      const s = v.filter((x) => !Number.isNaN(x));
      return s.length < 2 ? '' : `${fmt(Math.min(...s), 2)}-${fmt(Math.max(...s), 2)}`;
    };
    for (const [name, r] of Object.entries(results)) {
      const m = base(r);
      rows.push([
        name,
        fmt(m.up, 3),
        spread(r.up),
        fmt(m.up / kernel.up, 3),
        fmt(m.up / socatRates.up, 3),
        fmt(m.down, 3),
        spread(r.down),
        fmt(m.down / kernel.down, 3),
        fmt(m.down / socatRates.down, 3),
      ]);
    }
    printTable(
      `Client path: bulk TCP, iperf3 -t ${SECONDS}, one stream, upload and download (-R); medians of ${ROUNDS} rounds in turns (devcluster, ${new Date().toISOString()}, load ${loadavg()})`,
      [
        'path',
        'up Gbit/s',
        'up range',
        'vs direct',
        'vs socat',
        'down Gbit/s',
        'down range',
        'vs direct',
        'vs socat',
      ],
      rows,
    );
    printLoadTables(load);
  } finally {
    socat?.kill();
    rttRelay?.kill();
    await sshuttle?.stop();
    if (cluster) {
      inNs(cluster.workstationNetns, ['node', client, 'quit'], env);
      await cluster.down();
    }
    rmSync(work, { recursive: true, force: true });
  }
}

const kernelRow = 'kernel routing (router ns -> pod)';
const directRow = 'direct routing (router ns -> pod)';
const socatBulkRow = 'socat relay';
const sshuttleRow = 'sshuttle (NAT, ssh to router ns)';
const socatRow = 'socat relay (router ns)';
const productRow = 'telepresence (VIF -> tunnel -> port-forward -> manager)';
const productDirectRow = 'telepresence --manager-address (socat relay, no port-forward)';
const productNoAuthRow = "telepresence with the manager's auth.mode disabled (port-forward)";

function printLoadTables(load: Record<string, PathLoad>): void {
  const ms = (v: number | undefined, digits = 3) => (v === undefined ? 'n/a' : fmt(v, digits));
  const middle = (v: readonly number[]) => {
    const m = median(v);
    return Number.isNaN(m) ? undefined : m;
  };
  const mid = (v: readonly Percentiles[], k: keyof Percentiles) => middle(v.map((x) => x[k]));
  const when = `${new Date().toISOString()}, load ${loadavg()}`;
  printTable(
    `Connect latency: ${CONNECTS} sequential connect() with python sockets, each connection closed after one echoed line; medians of ${ROUNDS} rounds, each right after a kernel-routed run ("over kernel": median of the rounds' differences) (${when})`,
    ['path', 'p50 ms', 'p99 ms', 'p50 over kernel', 'p99 over kernel', 'failed'],
    Object.entries(load)
      .filter(([, l]) => l.connect.length > 0)
      .map(([name, l]) => [
        name,
        ms(mid(l.connect, 'p50')),
        ms(mid(l.connect, 'p99')),
        name === kernelRow ? '0' : ms(mid(l.connectOver, 'p50')),
        name === kernelRow ? '0' : ms(mid(l.connectOver, 'p99')),
        String(l.failed),
      ]),
  );
  printTable(
    `Round trip: ${ROUND_TRIPS} exchanges of 64 bytes on one open connection; medians of ${ROUNDS} rounds, each right after a run through the socat relay (${when})`,
    ['path', 'p50 ms', 'p99 ms', 'p50 over socat'],
    Object.entries(load)
      .filter(([, l]) => l.rtt.length > 0)
      .map(([name, l]) => [
        name,
        ms(mid(l.rtt, 'p50'), 4),
        ms(mid(l.rtt, 'p99'), 4),
        name === socatRow ? '0' : ms(middle(l.rttOver)),
      ]),
  );
  printTable(
    `${FLOWS} concurrent flows of 2-8 MiB each way, every byte checked (python sockets) (${when})`,
    ['path', 'seconds', 'flows/s', 'MiB/s each way', 'ok', 'refused', 'error', 'corrupt'],
    Object.entries(load)
      .filter(([, l]) => l.flows !== undefined)
      .map(([name, l]) => {
        const f = l.flows!;
        const mib = FLOWS * 5; // sizes 2..8 MiB in 7 even steps: 5 MiB on average
        return [
          name,
          fmt(f.seconds, 1),
          fmt(FLOWS / f.seconds, 1),
          fmt(mib / f.seconds, 1),
          ...['ok', 'refused', 'error', 'corrupt'].map((k) => String(f.counts[k] ?? 0)),
        ];
      }),
  );
}

const suite: BenchSuite = { name: 'client', run };
export default suite;
