// Bulk TCP through the whole client path (iperf3 in the workstation -> VIF -> netstack -> tunnel ->
// port-forward -> traffic-manager -> pod) next to direct routing, a socat relay and sshuttle, measured in
// one run on a devcluster of our own (root only). Everything runs in that cluster's namespaces.
// `npm run bench -- client`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addresses, applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import type { BenchSuite } from './report.js';
import { fmt, printTable } from './report.js';
import { inNs, readyPod } from './procs.js';
import { installTrafficManager } from './traffic-manager.js';
import { sshuttleUnavailable, startSshuttle, type SshuttleRelay } from './sshuttle.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SECONDS = 5;

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
  const r = inNs(ns, reverse ? [...argv, '-R'] : argv);
  try {
    const json = JSON.parse(r.out) as {
      end?: { sum_received?: { bits_per_second: number } };
      error?: string;
    };
    if (json.error) throw new Error(json.error);
    return (json.end?.sum_received?.bits_per_second ?? Number.NaN) / 1e9;
  } catch (e) {
    console.log(`  iperf3 to ${host}:${port} failed: ${(e as Error).message} ${r.err.trim()}`);
    return Number.NaN;
  }
}

/** Upload (the workstation sends) and download (the pod sends), Gbit/s each. */
interface Rates {
  up: number;
  down: number;
}
function iperf(ns: string, host: string, port = 5201): Rates {
  return { up: iperfOnce(ns, host, port, false), down: iperfOnce(ns, host, port, true) };
}
const noRates: Rates = { up: Number.NaN, down: Number.NaN };

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
  let sshuttle: SshuttleRelay | undefined;
  const env = { ...process.env, TELEPRESENCE_RUN_DIR: path.join(work, 'run') };
  const client = path.join(repo, 'apps/client/dist/main.js');
  try {
    cluster = await startDevCluster({
      name: `bn${Math.random().toString(36).slice(2, 6)}`,
      nodes: 1,
      images: [path.join(repo, 'tools/demo/images.json'), images],
    });
    const ws = cluster.workstationNetns;
    const { core } = await installTrafficManager(cluster, repo);
    await applyManifests(cluster.hostKubeconfig, iperfDeployment, () => undefined);
    const podIp = (await readyPod(core, 'default', 'app=iperf', 30_000)).status!.podIP!;
    await new Promise((r) => setTimeout(r, 500)); // iperf3 -s listening

    const rows: string[][] = [];
    const results: Record<string, Rates> = {};

    // Direct routing: devcluster's router drops forwarding to and from the workstation on purpose (only the
    // product's VIF may reach pods), so the direct row runs iperf3 from the router namespace, which routes
    // to the pod over the node bridge: the kernel path with no user-space hop.
    results['direct routing (router ns -> pod)'] = iperf(cluster.routerNetns, podIp);

    // A socat relay in the router namespace (one user-space copy, like our manager's dial).
    socat = spawn(
      'ip',
      [
        'netns',
        'exec',
        cluster.routerNetns,
        'socat',
        'TCP-LISTEN:15201,bind=198.19.255.1,reuseaddr,fork',
        `TCP:${podIp}:5201`,
      ],
      { stdio: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 500));
    results['socat relay'] = iperf(ws, '198.19.255.1', 15201);
    socat.kill();
    socat = undefined;

    // sshuttle over ssh to an sshd in the router namespace (where the socat relay ran):
    // app -> iptables REDIRECT -> sshuttle -> ssh -> sshd -> sshuttle server -> pod.
    const sshuttleRow = 'sshuttle (NAT, ssh to router ns)';
    results[sshuttleRow] = noRates;
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
        results[sshuttleRow] = iperf(ws, podIp);
      } catch (e) {
        console.log(`  sshuttle failed: ${(e as Error).message}`); // the other rows still count
      }
      await sshuttle?.stop();
      sshuttle = undefined;
    } else {
      console.log(`  sshuttle: ${noSshuttle}`);
    }

    // The product: connect, iperf3 to the pod IP through the VIF, quit.
    const c = inNs(ws, ['node', client, 'connect', '--kubeconfig', cluster.kubeconfig], env);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}${c.err}`);
    results['telepresence (VIF -> tunnel -> manager)'] = iperf(ws, podIp);
    inNs(ws, ['node', client, 'quit'], env);

    const direct = results['direct routing (router ns -> pod)'] ?? noRates;
    const cells = (gbps: number, base: number) =>
      Number.isNaN(gbps) ? ['n/a', ''] : [fmt(gbps, 3), fmt(gbps / base, 3)];
    for (const [name, r] of Object.entries(results)) {
      rows.push([name, ...cells(r.up, direct.up), ...cells(r.down, direct.down)]);
    }
    printTable(
      `Client path: bulk TCP, iperf3 -t ${SECONDS}, one stream, upload and download (-R) (devcluster, ${new Date().toISOString()})`,
      ['path', 'up Gbit/s', 'vs direct', 'down Gbit/s', 'vs direct'],
      rows,
    );
  } finally {
    socat?.kill();
    await sshuttle?.stop();
    if (cluster) {
      inNs(cluster.workstationNetns, ['node', client, 'quit'], env);
      await cluster.down();
    }
    rmSync(work, { recursive: true, force: true });
  }
}

const suite: BenchSuite = { name: 'client', run };
export default suite;
