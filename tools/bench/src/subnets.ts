// Subnet maths on realistic pod address sets: the traffic-manager recomputes coveringCidrs on every pod
// change (debounced 10 ms in the original), so it has to stay far below that on big clusters.
// Addresses are parsing fixtures in 198.18.0.0/15 and 2001:db8::/32; no traffic is sent.
import { coveringCidrs, makeCidr, parseIp, pruneCovered, tightCoveringCidrs } from '@telepresence/subnets';
import type { Cidr } from '@telepresence/subnets';
import type { BenchSuite } from './report.js';
import { fmt, median, printTable, timeRuns } from './report.js';

const RUNS = 15;

/** Deterministic pseudo-random numbers (LCG), so every run measures the same input. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * 100k pod IPs as the API server reports them (strings): 95k IPv4 spread over 400 node /24s of
 * 198.18.0.0/15 (200 nodes in each /16, partly filled), and 5k IPv6 over 40 node /64s of 2001:db8::/32.
 */
function podIps(): string[] {
  const next = random(42);
  const out: string[] = [];
  for (let i = 0; i < 95_000; i++) {
    const node = Math.floor(next() * 400);
    out.push(`198.${18 + (node % 2)}.${Math.floor(node / 2)}.${1 + Math.floor(next() * 254)}`);
  }
  for (let i = 0; i < 5_000; i++) {
    const node = Math.floor(next() * 40);
    const low = Math.floor(next() * 0xffff).toString(16);
    out.push(`2001:db8:0:${node.toString(16)}::${low}`);
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
    const cases: Array<[string, string, () => unknown[]]> = [
      ['coveringCidrs', '100k IP strings', () => coveringCidrs(ips)],
      ['coveringCidrs', '100k parsed IPs', () => coveringCidrs(parsed)],
      ['tightCoveringCidrs (max 16)', '100k IP strings', () => tightCoveringCidrs(ips, 16)],
      ['tightCoveringCidrs (max 512)', '100k IP strings', () => tightCoveringCidrs(ips, 512)],
      ['pruneCovered', '10k CIDRs', () => pruneCovered(nets)],
    ];
    const rows: string[][] = [];
    for (const [name, input, fn] of cases) {
      const times = await timeRuns(fn, RUNS, 3);
      rows.push([
        name,
        input,
        fmt(median(times)),
        fmt(Math.min(...times)),
        fmt(Math.max(...times)),
        String(fn().length),
      ]);
    }
    printTable(
      `subnets (${RUNS} runs each, goal: coveringCidrs < 50 ms for 100k IPs)`,
      ['operation', 'input', 'median ms', 'min ms', 'max ms', 'networks out'],
      rows,
    );
  },
};

export default suite;
