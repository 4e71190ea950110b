// DNS benchmark: dnsperf against our server answering 1,000 cluster names from its cache, and against
// dnsmasq serving the same names from a hosts file, side by side in one run.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDnsServer, Rcode } from '@telepresence/dns-core';
import type { ClusterAnswer, ClusterResolver } from '@telepresence/dns-core';

type Answer = ClusterAnswer['answers'][number];
import { fmt, median, printTable } from './report.js';
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
  };
}

/** Our server answering from its cache: every name is looked up in the (table) cluster once, at warm-up. */
async function startOurs(): Promise<{
  port: number;
  clusterLookups: () => number;
  close: () => Promise<void>;
}> {
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
  });
  return {
    port: server.address.port,
    clusterLookups: () => server.stats.clusterLookups,
    close: () => server.close(),
  };
}

/** dnsmasq (apt package dnsmasq-base) serving the same names from a hosts file; killed by PID. */
async function startDnsmasq(dir: string): Promise<{ port: number; close: () => Promise<void> }> {
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
  if (child.exitCode !== null) throw new Error(`dnsmasq exited with ${child.exitCode}`);
  return {
    port,
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
  };
}

const suite: BenchSuite = {
  name: 'dns',
  async run() {
    const dir = mkdtempSync(path.join(tmpdir(), 'tp-dns-bench-'));
    try {
      const queryFile = path.join(dir, 'queries');
      writeFileSync(queryFile, Array.from({ length: NAMES }, (_, i) => `${name(i)} A\n`).join(''));
      const ours = await startOurs();
      const dnsmasq = await startDnsmasq(dir);
      const oursRuns: PerfResult[] = [];
      const dnsmasqRuns: PerfResult[] = [];
      try {
        // Warm-up (fills our cache, warms the JIT), then alternate rounds so machine load hits both alike.
        await dnsperf(ours.port, queryFile, 1);
        await dnsperf(dnsmasq.port, queryFile, 1);
        for (let round = 0; round < ROUNDS; round++) {
          oursRuns.push(await dnsperf(ours.port, queryFile, DURATION_S));
          dnsmasqRuns.push(await dnsperf(dnsmasq.port, queryFile, DURATION_S));
        }
        if (ours.clusterLookups() !== NAMES) {
          console.log(
            `note: ${ours.clusterLookups()} cluster lookups (expected ${NAMES}: each name once, at warm-up)`,
          );
        }
      } finally {
        await ours.close();
        await dnsmasq.close();
      }
      const oursSummary = summarize(oursRuns);
      const dnsmasqSummary = summarize(dnsmasqRuns);
      const row = (label: string, r: PerfResult) => [
        label,
        fmt(r.qps, 0),
        String(r.sent),
        String(r.lost),
        fmt(r.avgLatencyMs, 3),
        fmt(r.stddevMs, 3),
        fmt(r.maxLatencyMs, 1),
      ];
      printTable(
        `dnsperf, ${NAMES} names, ${CLIENTS} clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (median q/s and latency, total sent/lost), cache hits`,
        ['server', 'queries/s', 'sent', 'lost', 'avg ms', 'stddev ms', 'max ms'],
        [row('dns-core', oursSummary), row('dnsmasq', dnsmasqSummary)],
      );
      console.log(`\nratio dns-core / dnsmasq queries/s: ${fmt(oursSummary.qps / dnsmasqSummary.qps)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default suite;
