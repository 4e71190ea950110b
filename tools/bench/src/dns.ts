// DNS benchmark: dnsperf against our server answering 1,000 cluster names from its cache, and against
// dnsmasq serving the same names from a hosts file, side by side in one run.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDnsServer, Rcode } from '@telepresence/dns-core';
import type { ClusterAnswer, ClusterResolver, UdpTransportChoice } from '@telepresence/dns-core';

type Answer = ClusterAnswer['answers'][number];
import { fmt, loadavg, median, printTable } from './report.js';
import type { BenchSuite } from './report.js';

const NAMES = 1000;
const DURATION_S = Number(process.env['DNS_BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['DNS_BENCH_ROUNDS'] ?? 3);
const CLIENTS = 4;

interface PerfResult {
  qps: number;
  sent: number;
  lost: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  stddevMs: number;
  /** Server CPU time (user + system) per answered query, microseconds. */
  cpuUsPerQuery: number;
}

/** A server under test: its port and a reader of its CPU time so far (microseconds). */
interface Target {
  label: string;
  port: number;
  cpuUs: () => number;
  close: () => Promise<void>;
}

function name(i: number): string {
  return `svc-${i}.bench.svc.cluster.local`;
}
function ip(i: number): string {
  return `198.19.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`;
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function runCommand(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`)),
    );
  });
}

async function dnsperf(port: number, queryFile: string, seconds: number): Promise<PerfResult> {
  const out = await runCommand('dnsperf', [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    queryFile,
    '-l',
    String(seconds),
    '-c',
    String(CLIENTS),
    '-q',
    '200',
  ]);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    maxLatencyMs: num(/Average Latency \(s\):.*max ([\d.]+)/) * 1000,
    stddevMs: num(/Latency StdDev \(s\):\s+([\d.]+)/) * 1000,
    cpuUsPerQuery: Number.NaN,
  };
}

/** One dnsperf round against a target, with the target's CPU time per answered query. */
async function measure(target: Target, queryFile: string, seconds: number): Promise<PerfResult> {
  const cpu0 = target.cpuUs();
  const r = await dnsperf(target.port, queryFile, seconds);
  return { ...r, cpuUsPerQuery: (target.cpuUs() - cpu0) / Math.max(1, r.sent - r.lost) };
}

/** User + system CPU time of another process, from /proc (clock ticks of 10 ms). */
function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** This process's CPU time: our server runs in it, and the bench itself idles while dnsperf runs. */
function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Our server answering from its cache: every name is looked up in the (table) cluster once, at warm-up. */
async function startOurs(
  udpTransport: UdpTransportChoice,
): Promise<Target & { clusterLookups: () => number }> {
  const records = new Map<string, Answer>();
  for (let i = 0; i < NAMES; i++) records.set(name(i), { type: 'A', name: name(i), data: ip(i) });
  const cluster: ClusterResolver = {
    async resolve(q) {
      const r = records.get(q.name);
      if (!r) return { rcode: Rcode.NXDOMAIN, answers: [] };
      return { rcode: Rcode.NOERROR, answers: q.type === 'A' ? [r] : [] };
    },
  };
  const server = await openDnsServer({
    address: '127.0.0.1',
    config: { clusterDomain: 'cluster.local' },
    cluster,
    cacheTtlMs: 60 * 60_000,
    udpTransport,
  });
  return {
    label: `dns-core (${server.udpTransport})`,
    port: server.address.port,
    cpuUs: ownCpuUs,
    clusterLookups: () => server.stats.clusterLookups,
    close: () => server.close(),
  };
}

/** dnsmasq (apt package dnsmasq-base) serving the same names from a hosts file; killed by PID. */
async function startDnsmasq(dir: string): Promise<Target> {
  const hosts = path.join(dir, 'hosts');
  writeFileSync(hosts, Array.from({ length: NAMES }, (_, i) => `${ip(i)} ${name(i)}\n`).join(''));
  const port = await freePort();
  const child = spawn(
    'dnsmasq',
    [
      '--no-daemon',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${hosts}`,
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--conf-file=/dev/null',
      '--pid-file=',
    ],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null || child.pid === undefined)
    throw new Error(`dnsmasq exited with ${child.exitCode}`);
  const pid = child.pid;
  return {
    label: 'dnsmasq',
    port,
    cpuUs: () => procCpuUs(pid),
    close: async () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    },
  };
}

function summarize(runs: PerfResult[]): PerfResult {
  const med = (f: (r: PerfResult) => number) => median(runs.map(f));
  return {
    qps: med((r) => r.qps),
    sent: runs.reduce((a, r) => a + r.sent, 0),
    lost: runs.reduce((a, r) => a + r.lost, 0),
    avgLatencyMs: med((r) => r.avgLatencyMs),
    maxLatencyMs: Math.max(...runs.map((r) => r.maxLatencyMs)),
    stddevMs: med((r) => r.stddevMs),
    cpuUsPerQuery: med((r) => r.cpuUsPerQuery),
  };
}

const suite: BenchSuite = {
  name: 'dns',
  async run() {
    const dir = mkdtempSync(path.join(tmpdir(), 'tp-dns-bench-'));
    const targets: Array<Target & { clusterLookups?: () => number }> = [];
    try {
      const queryFile = path.join(dir, 'queries');
      writeFileSync(queryFile, Array.from({ length: NAMES }, (_, i) => `${name(i)} A\n`).join(''));
      // The batched native UDP transport (the default on Linux), node:dgram (the fallback) and dnsmasq.
      targets.push(await startOurs('auto'));
      targets.push(await startOurs('dgram'));
      const dnsmasq = await startDnsmasq(dir);
      targets.push(dnsmasq);
      const runs = targets.map((): PerfResult[] => []);
      const load: string[] = [loadavg()];
      // Warm-up (fills our caches, warms the JIT), then alternate rounds so machine load hits all alike.
      for (const t of targets) await dnsperf(t.port, queryFile, 1);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, t] of targets.entries()) runs[i]!.push(await measure(t, queryFile, DURATION_S));
        load.push(loadavg());
      }
      for (const t of targets) {
        const lookups = t.clusterLookups?.();
        if (lookups !== undefined && lookups !== NAMES) {
          console.log(`note: ${t.label}: ${lookups} cluster lookups (expected ${NAMES}, at warm-up)`);
        }
      }
      const summaries = runs.map(summarize);
      printTable(
        `dnsperf, ${NAMES} names, ${CLIENTS} clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (median q/s, latency and server CPU per query; total sent/lost), cache hits`,
        ['server', 'queries/s', 'sent', 'lost', 'avg ms', 'stddev ms', 'max ms', 'cpu us/q'],
        summaries.map((r, i) => [
          targets[i]!.label,
          fmt(r.qps, 0),
          String(r.sent),
          String(r.lost),
          fmt(r.avgLatencyMs, 3),
          fmt(r.stddevMs, 3),
          fmt(r.maxLatencyMs, 1),
          fmt(r.cpuUsPerQuery, 2),
        ]),
      );
      console.log(
        `\nper round q/s: ${targets.map((t, i) => `${t.label} ${runs[i]!.map((r) => fmt(r.qps, 0)).join(' ')}`).join('; ')}`,
      );
      console.log(`load average (1, 5, 15 min) at start and after each round: ${load.join('; ')}`);
      const dnsmasqQps = summaries[targets.indexOf(dnsmasq)]!.qps;
      for (const [i, t] of targets.entries()) {
        if (t === dnsmasq) continue;
        console.log(`ratio ${t.label} / dnsmasq queries/s: ${fmt(summaries[i]!.qps / dnsmasqQps)}`);
      }
    } finally {
      for (const t of targets) await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default suite;
