// Netstack benchmark: iperf3 through TUN + user-space stack to a loopback iperf3 server, compared with
// direct loopback TCP and with kernel TCP over a veth pair between two namespaces, at MTU 1500 and at the
// stack's default MTU, with the TUN's offloads (virtio_net_hdr, TSO) and without; the stack's CPU time per
// GB; plus TCP connection setup rate. Needs root, iperf3 and iproute2.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { Netstack, TunDevice, linkConfig, type FlowHandler } from '@telepresence/netstack';
import { fmt, loadavg, median, printTable, type BenchSuite } from './report.js';

const run = promisify(execFile);
const SECONDS = 2;
const RUNS = 3;
const DEFAULT_MTU = 65520;

function spawnAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err || out}`)),
    );
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gbit/s from one iperf3 client run (receiver side); `bytes` gets the bytes received added. */
async function iperf(
  prefix: string[],
  host: string,
  port: number,
  flows: number,
  bytes?: { total: number },
): Promise<number> {
  let problem = '';
  // A busy machine sometimes makes the first run fail (server not ready, control connection slow): retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await pause(500);
    let out: string;
    try {
      out = await spawnAsync(prefix[0] ?? 'iperf3', [
        ...prefix.slice(1),
        ...(prefix.length > 0 ? ['iperf3'] : []),
        '-c',
        host,
        '-p',
        String(port),
        '-t',
        String(SECONDS),
        '-P',
        String(flows),
        '-J',
      ]);
    } catch (err) {
      problem = (err as Error).message;
      continue;
    }
    const json = JSON.parse(out) as {
      error?: string;
      end?: { sum_received?: { bits_per_second: number; bytes: number } };
    };
    const sum = json.end?.sum_received;
    if (!sum) {
      problem = json.error ?? out.slice(0, 200);
      continue;
    }
    if (bytes) bytes.total += sum.bytes;
    return sum.bits_per_second / 1e9;
  }
  throw new Error(`iperf3 to ${host}:${port} failed 3 times: ${problem}`);
}

async function medianOf(f: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await f());
  return median(values);
}

function startIperfServer(prefix: string[], bind: string, port: number): ChildProcess {
  const args = [...prefix, 'iperf3', '-s', '-B', bind, '-p', String(port)];
  const child = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  return child;
}

/** Echo server for the veth connection-rate run: `node -e ECHO_SERVER HOST PORT`, prints once listening. */
const ECHO_SERVER =
  "const net=require('net');net.createServer((s)=>{s.on('error',()=>{});s.pipe(s)})" +
  ".listen(+process.argv[2],process.argv[1],()=>console.log('listening'))";

const loopbackHandler: FlowHandler = {
  onTcpConnect: (id) =>
    new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: id.dstPort, allowHalfOpen: true });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve((flow) => {
          flow.pipe(sock);
          sock.pipe(flow);
          sock.on('error', () => flow.destroy());
          flow.on('error', () => sock.destroy());
        });
      });
    }),
};

async function withTunNamespace<T>(mtu: number, offload: boolean, f: (ns: string) => Promise<T>): Promise<T> {
  const tag = randomBytes(3).toString('hex');
  const ns = `ns-nsb-${tag}`;
  await run('ip', ['netns', 'add', ns]);
  const tun = TunDevice.open({ name: `nsb${tag}`, offload });
  if (offload && !tun.receiveOffload) console.log(`netstack: the kernel refused TUN offloads (${tun.name})`);
  const stack = new Netstack(tun, loopbackHandler, { mtu });
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await linkConfig.moveToNetns({ link: tun.name }, ns);
    const t = { link: tun.name, netns: ns };
    await linkConfig.setMtu(t, mtu);
    await linkConfig.setTxQueueLength(t, 10_000);
    await linkConfig.addAddress(t, '198.19.0.1/32');
    await linkConfig.setUp(t);
    await linkConfig.addRoute(t, '198.18.0.0/16');
    stack.start();
    return await f(ns);
  } finally {
    stack.close();
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

async function withVethPair<T>(mtu: number, f: (client: string, server: string) => Promise<T>): Promise<T> {
  const tag = randomBytes(3).toString('hex');
  const a = `ns-nsva-${tag}`;
  const b = `ns-nsvb-${tag}`;
  await run('ip', ['netns', 'add', a]);
  await run('ip', ['netns', 'add', b]);
  try {
    await run('ip', [
      '-n',
      a,
      'link',
      'add',
      'va',
      'mtu',
      String(mtu),
      'type',
      'veth',
      'peer',
      'name',
      'vb',
      'netns',
      b,
      'mtu',
      String(mtu),
    ]);
    await run('ip', ['-n', a, 'addr', 'add', '198.18.100.1/24', 'dev', 'va']);
    await run('ip', ['-n', b, 'addr', 'add', '198.18.100.2/24', 'dev', 'vb']);
    await run('ip', ['-n', a, 'link', 'set', 'va', 'up']);
    await run('ip', ['-n', b, 'link', 'set', 'vb', 'up']);
    return await f(a, b);
  } finally {
    await run('ip', ['netns', 'del', a]).catch(() => undefined);
    await run('ip', ['netns', 'del', b]).catch(() => undefined);
  }
}

/** Stack throughput (Gbit/s, median) and the bench process's CPU seconds per GB received. */
async function throughStack(mtu: number, offload: boolean, port: number, flows: number) {
  return withTunNamespace(mtu, offload, async (ns) => {
    const bytes = { total: 0 };
    const cpu0 = process.cpuUsage();
    const gbps = await medianOf(() => iperf(['ip', 'netns', 'exec', ns], '198.18.0.1', port, flows, bytes));
    const cpu = process.cpuUsage(cpu0);
    return { gbps, cpuPerGB: (cpu.user + cpu.system) / 1e6 / (bytes.total / 1e9) };
  });
}

/** Connections per second: COUNT sequential connect + close from a namespace (or the host). */
async function connectRate(prefix: string[], host: string, port: number, count: number): Promise<number> {
  const script = `const net=require('net');let n=0;const t0=Date.now();const one=()=>{if(n++===${count}){console.log(${count}*1000/(Date.now()-t0));return}const s=net.connect(${port},'${host}',()=>{s.destroy();one()});s.on('error',e=>{console.error(e);process.exit(1)})};one();`;
  const out = await spawnAsync(prefix[0] ?? process.execPath, [
    ...prefix.slice(1),
    ...(prefix.length > 0 ? [process.execPath] : []),
    '-e',
    script,
  ]);
  return Number(out.trim());
}

/** Median of 3 x 500 connections after 300 unmeasured ones (the stack's JIT warms up, as in a running daemon). */
async function connectRateMedian(prefix: string[], host: string, port: number): Promise<number> {
  await connectRate(prefix, host, port, 300);
  return medianOf(() => connectRate(prefix, host, port, 500));
}

const suite: BenchSuite = {
  name: 'netstack',
  async run() {
    if (process.getuid?.() !== 0) {
      console.log('netstack: skipped (needs root for TUN and namespaces)');
      return;
    }
    const port = 20000 + Math.floor(Math.random() * 20000);
    const host = startIperfServer([], '127.0.0.1', port);
    const echo = net.createServer((s) => s.on('error', () => undefined).pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as net.AddressInfo).port;
    await pause(300);
    const rows: string[][] = [];
    try {
      for (const mtu of [1500, DEFAULT_MTU]) {
        for (const flows of [1, 8]) {
          const direct = await medianOf(() => iperf([], '127.0.0.1', port, flows));
          const veth = await withVethPair(mtu, async (a, b) => {
            const server = startIperfServer(['ip', 'netns', 'exec', b], '198.18.100.2', port);
            await pause(300);
            try {
              return await medianOf(() => iperf(['ip', 'netns', 'exec', a], '198.18.100.2', port, flows));
            } finally {
              server.kill();
            }
          });
          const stack = await throughStack(mtu, true, port, flows);
          const plain = await throughStack(mtu, false, port, flows);
          rows.push([
            String(mtu),
            String(flows),
            fmt(direct),
            fmt(veth),
            fmt(stack.gbps),
            `${fmt((stack.gbps / veth) * 100, 0)}%`,
            fmt(stack.cpuPerGB),
            fmt(plain.gbps),
            `${fmt((plain.gbps / veth) * 100, 0)}%`,
            fmt(plain.cpuPerGB),
          ]);
        }
      }
      printTable(
        `iperf3 throughput, Gbit/s (median of ${RUNS} x ${SECONDS}s); stack CPU s/GB; load ${loadavg()}`,
        [
          'MTU',
          'flows',
          'loopback',
          'veth',
          'TUN+stack',
          '/veth',
          'CPU s/GB',
          'no offload',
          '/veth',
          'CPU s/GB',
        ],
        rows,
      );
      const direct = await connectRateMedian([], '127.0.0.1', echoPort);
      const veth = await withVethPair(1500, async (a, b) => {
        const server = spawn(
          'ip',
          ['netns', 'exec', b, process.execPath, '-e', ECHO_SERVER, '198.18.100.2', String(echoPort)],
          { stdio: ['ignore', 'pipe', 'ignore'] },
        );
        await new Promise((r) => server.stdout.once('data', r));
        try {
          return await connectRateMedian(['ip', 'netns', 'exec', a], '198.18.100.2', echoPort);
        } finally {
          server.kill();
        }
      });
      const viaStack = await withTunNamespace(DEFAULT_MTU, true, (ns) =>
        connectRateMedian(['ip', 'netns', 'exec', ns], '198.18.0.1', echoPort),
      );
      printTable(
        `TCP connection setup (sequential connect + close, connections/s, median of 3 x 500 after 300 warm-up); load ${loadavg()}`,
        ['path', 'conn/s', 'of loopback', 'of veth'],
        [
          ['loopback', fmt(direct, 0), '100%', ''],
          ['veth', fmt(veth, 0), `${fmt((veth / direct) * 100, 0)}%`, '100%'],
          [
            'TUN+stack (handler dials loopback)',
            fmt(viaStack, 0),
            `${fmt((viaStack / direct) * 100, 0)}%`,
            `${fmt((viaStack / veth) * 100, 0)}%`,
          ],
        ],
      );
    } finally {
      host.kill();
      echo.close();
    }
  },
};

export default suite;
