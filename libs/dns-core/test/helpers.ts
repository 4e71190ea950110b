// Shared test fixtures: a table-driven cluster resolver and its records, a server runner, a loopback upstream
// DNS server, and a `dig` runner.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import { Rcode } from '../src/types.js';
import type { ClusterAnswer, ClusterQuestion, ClusterResolver } from '../src/types.js';
import { openDnsServer } from '../src/server.js';
import type { DnsServer, DnsServerOptions } from '../src/server.js';

const run = promisify(execFile);

/** A cluster with a fixed record table; counts calls; optional delay. */
export class TableCluster implements ClusterResolver {
  calls: ClusterQuestion[] = [];
  delayMs = 0;
  constructor(public records: Answer[]) {}
  async resolve(q: ClusterQuestion, signal: AbortSignal): Promise<ClusterAnswer> {
    this.calls.push(q);
    if (this.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason as Error);
        });
      });
    }
    const named = this.records.filter((r) => r.name.toLowerCase() === q.name);
    if (named.length === 0) return { rcode: Rcode.NXDOMAIN, answers: [] };
    return { rcode: Rcode.NOERROR, answers: named.filter((r) => r.type === q.type) };
  }
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: string[][];
  raw: string;
}

/** Runs real dig against 127.0.0.1:port; `extra` are more dig options (+tcp, +bufsize=...). */
export async function dig(port: number, name: string, type = 'A', extra: string[] = []): Promise<DigResult> {
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(port),
    name,
    type,
    '+tries=1',
    '+time=3',
    '+noall',
    '+comments',
    '+answer',
    ...extra,
  ]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const answers = stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(';'))
    .map((l) => l.split(/\s+/));
  return { status, flags, answers, raw: stdout };
}

/**
 * A UDP socket and a TCP listener on the same free loopback port. The port UDP got may be taken for TCP
 * (other suites run in parallel): then both are closed and it tries again, as the server's transport does.
 */
async function bindUdpAndTcp(): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const port = udp.address().port;
    const tcp = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port };
    } catch (err) {
      udp.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
}

/** A small upstream DNS server on loopback (UDP and TCP) answering from a table; UDP replies over 512 are truncated. */
export async function startUpstream(records: Answer[]): Promise<{
  port: number;
  udpQueries: number;
  tcpQueries: number;
  /** The source port of each UDP query, in order. */
  udpSources: number[];
  close(): Promise<void>;
}> {
  const state = { udpQueries: 0, tcpQueries: 0 };
  const udpSources: number[] = [];
  const answer = (msg: Buffer, tcp: boolean): Buffer => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    const matching = records.filter(
      (r) => r.name.toLowerCase() === question.name.toLowerCase() && r.type === question.type,
    );
    const exists = records.some((r) => r.name.toLowerCase() === question.name.toLowerCase());
    let out = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (exists ? 0 : 3),
      questions: [question],
      answers: matching.map((r) => ({ ...r, name: question.name })),
    });
    if (!tcp && out.length > 512) {
      out = dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.TRUNCATED_RESPONSE,
        questions: [question],
      });
    }
    return out;
  };
  const { udp, tcp, port } = await bindUdpAndTcp();
  udp.on('message', (msg, rinfo) => {
    state.udpQueries++;
    udpSources.push(rinfo.port);
    udp.send(answer(msg, false), rinfo.port, rinfo.address);
  });
  tcp.on('connection', (s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        state.tcpQueries++;
        const reply = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), true);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        s.end(Buffer.concat([len, reply]));
      }
    });
    s.on('error', () => {});
  });
  return {
    port,
    udpSources,
    get udpQueries() {
      return state.udpQueries;
    },
    get tcpQueries() {
      return state.tcpQueries;
    },
    close: async () => {
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}

/** Sends raw bytes over UDP and waits for one reply (or undefined after timeoutMs). */
export async function udpExchange(port: number, msg: Buffer, timeoutMs = 500): Promise<Buffer | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      s.on('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      s.send(msg, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/** A query with two questions: the server answers FORMERR (it takes exactly one). */
export const twoQuestionQuery = (): Buffer =>
  dnsPacket.encode({
    type: 'query',
    id: 10,
    questions: [
      { type: 'A', name: 'a' },
      { type: 'A', name: 'b' },
    ],
  });

/** The name most server tests ask for. */
export const ECHO = 'echo.default.svc.cluster.local';
export const manyA = (name: string, n: number): Answer[] =>
  Array.from(
    { length: n },
    (_, i) => ({ type: 'A', name, data: `198.19.${Math.floor(i / 200) + 1}.${(i % 200) + 1}` }) as Answer,
  );

/** The cluster's records for the server tests: every record type, and answers too big for 512 bytes. */
export const records: Answer[] = [
  { type: 'A', name: ECHO, data: '198.19.0.5' },
  { type: 'AAAA', name: ECHO, data: '2001:db8::5' },
  { type: 'TXT', name: ECHO, data: ['hello'] },
  { type: 'MX', name: ECHO, data: { preference: 10, exchange: 'mail.default.svc.cluster.local' } },
  { type: 'A', name: 'v4only.default.svc.cluster.local', data: '198.19.0.6' },
  { type: 'CNAME', name: 'alias.default.svc.cluster.local', data: ECHO },
  {
    type: 'SRV',
    name: '_http._tcp.echo.default.svc.cluster.local',
    data: { priority: 0, weight: 5, port: 8080, target: ECHO },
  },
  { type: 'NS', name: 'cluster.local', data: 'ns.dns.cluster.local' },
  { type: 'PTR', name: '5.0.19.198.in-addr.arpa', data: ECHO },
  { type: 'A', name: 'web', data: '198.19.0.7' }, // what the cluster answers for the single label "web"
  { type: 'A', name: 'ns1only.ns1', data: '198.19.0.8' },
  ...manyA('big.default.svc.cluster.local', 60),
  ...manyA('huge.default.svc.cluster.local', 100),
];

export const baseConfig = {
  clusterDomain: 'cluster.local',
  connectedNamespace: 'default',
  includeSuffixes: ['19.198.in-addr.arpa'],
};

/** Runs fn against a server on a random 127.0.0.1 port answering from `records`; `extra` overrides options. */
export async function withServer(
  extra: Partial<DnsServerOptions>,
  fn: (s: DnsServer, c: TableCluster) => Promise<void>,
) {
  const cluster = new TableCluster(records);
  const server = await openDnsServer({ address: '127.0.0.1', config: baseConfig, cluster, ...extra });
  try {
    await fn(server, cluster);
  } finally {
    await server.close();
  }
}
