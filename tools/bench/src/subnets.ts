// Subnet maths on realistic pod address sets: the traffic-manager recomputes coveringCidrs on every pod
// change (debounced 10 ms in the original), so it has to stay far below that on big clusters.
// Addresses are parsing fixtures in 198.18.0.0/15 and 2001:db8::/32; no traffic is sent.
import {
  coveringCidrs,
  makeCidr,
  parseIp,
  pruneCovered,
  size,
  tightCoveringCidrs,
} from '@telepresence/subnets';
import type { Cidr } from '@telepresence/subnets';
import type { BenchSuite } from './report.js';
import { fmt, median, printTable, timeRuns } from './report.js';

const RUNS = 25;

/** Deterministic pseudo-random numbers (LCG), so every run measures the same input. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * 100k pod IPs as the API server reports them (strings). IPv4: 500 nodes, each with a /24 of
 * 198.18.0.0/15 (a /16 holds only 65k addresses) whose IPAM hands out addresses from .2 upwards, 150-230
 * pods per node, 95k in all. IPv6: 40 nodes with a /64 of 2001:db8::/32 each, 125 pods per node.
 */
function podIps(): string[] {
  const next = random(42);
  const out: string[] = [];
  for (let node = 0; out.length < 95_000; node++) {
    const pods = Math.min(150 + Math.floor(next() * 81), 95_000 - out.length);
    for (let host = 2; host < 2 + pods; host++) out.push(`198.${18 + (node >> 8)}.${node & 255}.${host}`);
  }
  for (let node = 0; node < 40; node++) {
    for (let host = 2; host < 127; host++) out.push(`2001:db8:0:${node.toString(16)}::${host.toString(16)}`);
  }
  return out;
}

/** 10k networks with heavy nesting and duplicates: /16 to /32 in 198.18.0.0/15, /48 to /128 in 2001:db8::/32. */
function cidrs(): Cidr[] {
  const next = random(7);
  const out: Cidr[] = [];
  for (let i = 0; i < 10_000; i++) {
    if (next() < 0.8) {
      const address = 0xc6120000n + BigInt(Math.floor(next() * 0x20000));
      out.push(makeCidr(4, address, 16 + Math.floor(next() * 17)));
    } else {
      const address = (0x20010db8n << 96n) | (BigInt(Math.floor(next() * 2 ** 32)) << 64n);
      out.push(makeCidr(6, address, 48 + Math.floor(next() * 81)));
    }
  }
  return out;
}

const suite: BenchSuite = {
  name: 'subnets',
  async run() {
    const ips = podIps();
    const parsed = ips.map(parseIp);
    const nets = cidrs();
    const cases: Array<[string, string, () => Cidr[]]> = [
      ['coveringCidrs', '100k IP strings', () => coveringCidrs(ips)],
      ['coveringCidrs', '100k parsed IPs', () => coveringCidrs(parsed)],
      ['tightCoveringCidrs (max 16)', '100k IP strings', () => tightCoveringCidrs(ips, 16)],
      ['tightCoveringCidrs (max 64)', '100k IP strings', () => tightCoveringCidrs(ips, 64)],
      ['tightCoveringCidrs (max 512)', '100k IP strings', () => tightCoveringCidrs(ips, 512)],
      ['pruneCovered', '10k CIDRs', () => pruneCovered(nets)],
    ];
    const rows: string[][] = [];
    for (const [name, input, fn] of cases) {
      const times = await timeRuns(fn, RUNS, 3);
      const out = fn();
      const v4Space = out.filter((c) => c.family === 4).reduce((n, c) => n + size(c), 0n);
      const ms = [median(times), Math.min(...times), Math.max(...times)].map((t) => fmt(t));
      rows.push([name, input, ...ms, String(out.length), String(v4Space)]);
    }
    printTable(
      `subnets (${RUNS} runs each, goal: coveringCidrs < 50 ms for 100k IPs)`,
      ['operation', 'input', 'median ms', 'min ms', 'max ms', 'networks out', 'IPv4 addresses covered'],
      rows,
    );
  },
};

export default suite;
