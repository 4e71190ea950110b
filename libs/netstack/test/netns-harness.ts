// Test harness: a fresh network namespace whose routes 198.18.0.0/16 and 2001:db8::/32 lead into a TUN
// served by a Netstack in this process, plus a flow handler that connects flows to loopback servers.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import { Netstack, TunDevice, linkConfig, type FlowHandler, type NetstackOptions } from '../src/index.js';

const run = promisify(execFile);

export const REJECT_PORT = 9; // the handler rejects these flows
export const HANG_PORT = 11; // the handler never answers

export interface TunNamespace {
  ns: string;
  stack: Netstack;
  tun: TunDevice;
  close(): Promise<void>;
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
}

export async function createTunNamespace(
  options: NetstackOptions = {},
  handler = loopbackHandler(),
  tunOptions: { offload?: boolean } = {},
): Promise<TunNamespace> {
  const tag = randomBytes(3).toString('hex');
  const ns = `ns-nst-${tag}`;
  await run('ip', ['netns', 'add', ns]);
  let tun: TunDevice | undefined;
  let stack: Netstack | undefined;
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    tun = TunDevice.open({ name: `nst${tag}`, ...tunOptions });
    await linkConfig.moveToNetns({ link: tun.name }, ns);
    const t = { link: tun.name, netns: ns };
    await linkConfig.setMtu(t, options.mtu ?? 65520);
    await linkConfig.setTxQueueLength(t, 10_000);
    await linkConfig.addAddress(t, '198.19.0.1/32');
    await linkConfig.addAddress(t, '2001:db8:ffff::1/128');
    await linkConfig.setUp(t);
    await linkConfig.addRoute(t, '198.18.0.0/16');
    await linkConfig.addRoute(t, '2001:db8::/32');
    stack = new Netstack(tun, handler, options);
    stack.start();
  } catch (err) {
    tun?.close();
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    throw err;
  }
  const s = stack;
  return {
    ns,
    stack: s,
    tun,
    async close() {
      s.close();
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    },
    exec: (cmd, args, timeoutMs = 60_000) => execIn(ns, cmd, args, timeoutMs),
  };
}

/** Like execFile but asynchronous all the way (the stack in this process must keep running). */
export function execIn(
  ns: string,
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${stderr}${stdout}`));
    });
  });
}

/** Connects every flow to the same port on loopback; REJECT_PORT is refused, HANG_PORT never answered. */
export function loopbackHandler(): FlowHandler {
  return {
    onTcpConnect(id, signal) {
      if (id.dstPort === REJECT_PORT) return Promise.reject(new Error('refused by test handler'));
      if (id.dstPort === HANG_PORT) return new Promise(() => undefined);
      return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port: id.dstPort, allowHalfOpen: true });
        // The stack gave up (connect timeout): do not leak the dialed socket.
        signal.addEventListener('abort', () => sock.destroy(), { once: true });
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
      });
    },
    onUdpFlow(id) {
      if (id.dstPort === REJECT_PORT) return Promise.reject(new Error('refused by test handler'));
      return new Promise((resolve) => {
        const sock = dgram.createSocket('udp4');
        sock.connect(id.dstPort, '127.0.0.1', () => {
          resolve((flow) => {
            flow.on('data', (d: Buffer) => sock.send(d));
            sock.on('message', (m) => flow.write(m));
            flow.on('close', () => sock.close());
          });
        });
      });
    },
  };
}

export interface Servers {
  echoPort: number;
  /** Answers, after the client's FIN, with the sha256 hex of everything received. */
  hashPort: number;
  udpEchoPort: number;
  close(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const { createHash } = await import('node:crypto');
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  };
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    track(s);
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const hash = net.createServer({ allowHalfOpen: true }, (s) => {
    const h = createHash('sha256');
    let n = 0;
    track(s);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    s.on('end', () => s.end(`${n} ${h.digest('hex')}\n`));
  });
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m, rinfo) => udp.send(m, rinfo.port, rinfo.address));
  await Promise.all([
    new Promise<void>((r) => echo.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r)),
    new Promise<void>((r) => hash.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r)),
    new Promise<void>((r) => udp.bind(0, '127.0.0.1', r)),
  ]);
  const port = (s: net.Server) => (s.address() as net.AddressInfo).port;
  return {
    echoPort: port(echo),
    hashPort: port(hash),
    udpEchoPort: udp.address().port,
    async close() {
      udp.close();
      for (const s of open) s.destroy();
      await Promise.all([new Promise((r) => echo.close(r)), new Promise((r) => hash.close(r))]);
    },
  };
}
