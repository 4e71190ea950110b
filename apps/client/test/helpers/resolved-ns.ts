// A workstation-like namespace that runs systemd-resolved (extracted from the Debian package by
// tools/fetch-systemd-resolved.sh, never installed) with a private D-Bus system bus, in a network namespace
// plus a mount namespace of its own, so that /run, /etc/resolv.conf and /etc/passwd are private:
//   rs-<hex>-ws: lo (resolved's stub 127.0.0.53), veth 198.18.253.1/30 -> rs-<hex>-up
//   rs-<hex>-up: veth 198.18.253.2/30 + 198.18.250.99/32: the "normal upstream" nameserver (answers every
//                name with 198.18.250.99) and an HTTP server on port 8080.
// Everything runs through async child processes: the test process also runs the netstack that carries
// DNS from the TUN, so blocking calls here would deadlock lookups.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repoRoot = path.resolve(process.cwd(), '../..');
const drivers = path.join(process.cwd(), 'test', 'drivers');

export const UPSTREAM_IP = '198.18.253.2';
export const UPSTREAM_ANSWER = '198.18.250.99';
export const WS_IP = '198.18.253.1';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface ResolvedWorkstation {
  readonly prefix: string;
  readonly ws: string;
  readonly up: string;
  /** Address of the private system bus, reachable from this (host) process. */
  readonly busAddress: string;
  /** The private /etc/resolv.conf (points at resolved's stub). */
  readonly resolvConfPath: string;
  readonly resolvedRoot: string;
  /** Runs a command in the workstation's network and mount namespaces. */
  exec(cmd: string, args: readonly string[], timeoutMs?: number, input?: string): Promise<ExecResult>;
  /**
   * Copies resolved's stub-resolv.conf (with the link search domains) into the private /etc/resolv.conf,
   * as the usual symlink would show it (a bind mount cannot follow resolved's rename-into-place).
   */
  syncResolvConf(): void;
  resolvectl(args: readonly string[]): Promise<string>;
  startResolved(): Promise<void>;
  stopResolved(): Promise<void>;
  destroy(): Promise<void>;
}

function execAsync(
  cmd: string,
  args: readonly string[],
  timeoutMs = 20_000,
  input?: string,
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      [...args],
      { timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ stdout, stderr, code });
      },
    );
    child.stdin?.end(input);
  });
}

async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await execAsync(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Spawns a long-running process and waits for a READY line (or for a file to appear). */
async function startProcess(
  args: readonly string[],
  ready: { line?: string; file?: string },
): Promise<{ child: ChildProcess; output: () => string }> {
  const [cmd = '', ...rest] = args;
  const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited (${child.exitCode}): ${out}`);
    if (ready.line !== undefined && out.split('\n').some((l) => l.startsWith(ready.line ?? ''))) break;
    if (ready.file !== undefined && fs.existsSync(ready.file)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (Date.now() >= deadline) {
    child.kill();
    throw new Error(`${args.join(' ')} not ready after 20 s: ${out}`);
  }
  return { child, output: () => out };
}

const BUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <!-- Permissive on purpose (test bus): method returns must be delivered to every caller. -->
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow send_type="signal"/>
  </policy>
</busconfig>
`;

const RESOLVED_CONF = `[Resolve]
DNS=${UPSTREAM_IP}
LLMNR=no
MulticastDNS=no
DNSSEC=no
DNSStubListener=yes
`;

export async function startResolvedWorkstation(): Promise<ResolvedWorkstation> {
  const resolvedRoot = execFileSync('bash', [path.join(repoRoot, 'tools/fetch-systemd-resolved.sh')], {
    encoding: 'utf8',
  }).trim();
  const prefix = `rs-${randomBytes(3).toString('hex')}`;
  const ws = `${prefix}-ws`;
  const up = `${prefix}-up`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const children: ChildProcess[] = [];
  let resolved: ChildProcess | undefined;
  let holderPid = 0;

  const destroy = async (): Promise<void> => {
    for (const c of [resolved, ...children.reverse()]) {
      if (c !== undefined && c.exitCode === null) {
        c.kill();
        await new Promise((r) => c.once('exit', r));
      }
    }
    for (const ns of [ws, up]) await execAsync('ip', ['netns', 'del', ns]);
    fs.rmSync(tmp, { recursive: true, force: true });
  };

  try {
    for (const ns of [ws, up]) {
      await must('ip', ['netns', 'add', ns]);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const vw = `${prefix}w`;
    const vu = `${prefix}u`;
    await must('ip', ['link', 'add', vw, 'netns', ws, 'type', 'veth', 'peer', 'name', vu, 'netns', up]);
    await must('ip', ['-n', ws, 'addr', 'add', `${WS_IP}/30`, 'dev', vw]);
    await must('ip', ['-n', up, 'addr', 'add', `${UPSTREAM_IP}/30`, 'dev', vu]);
    await must('ip', ['-n', up, 'addr', 'add', `${UPSTREAM_ANSWER}/32`, 'dev', vu]);
    await must('ip', ['-n', ws, 'link', 'set', vw, 'up']);
    await must('ip', ['-n', up, 'link', 'set', vu, 'up']);
    await must('ip', ['-n', ws, 'route', 'add', `${UPSTREAM_ANSWER}/32`, 'via', UPSTREAM_IP]);

    const node = process.execPath;
    const inUp = ['ip', 'netns', 'exec', up];
    children.push(
      (
        await startProcess([...inUp, node, path.join(drivers, 'fake-upstream.mjs'), UPSTREAM_IP, '53'], {
          line: 'READY',
        })
      ).child,
    );
    children.push(
      (await startProcess([...inUp, node, path.join(drivers, 'http-echo.mjs'), '8080'], { line: 'READY' }))
        .child,
    );

    fs.writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 127.0.0.53\noptions edns0 trust-ad\n');
    fs.writeFileSync(
      path.join(tmp, 'passwd'),
      `${fs.readFileSync('/etc/passwd', 'utf8')}systemd-resolve:x:991:991:systemd Resolver:/:/usr/sbin/nologin\n`,
    );
    fs.writeFileSync(
      path.join(tmp, 'group'),
      `${fs.readFileSync('/etc/group', 'utf8')}systemd-resolve:x:991:\n`,
    );
    fs.writeFileSync(path.join(tmp, 'bus.conf'), BUS_CONFIG);
    // The holder owns the private mount namespace; `ip netns exec` and `unshare` both exec, so its PID is
    // the spawned child's. /run becomes a private tmpfs (bus socket, resolved's state), and resolv.conf,
    // passwd and group are bind-mounted copies.
    const setup = [
      'mount -t tmpfs -o mode=755 tmpfs /run',
      'mkdir -p /run/dbus /run/systemd/resolved.conf.d',
      `mount --bind ${tmp}/resolv.conf /etc/resolv.conf`,
      `mount --bind ${tmp}/passwd /etc/passwd`,
      `mount --bind ${tmp}/group /etc/group`,
      'echo READY',
      'exec sleep 1000000',
    ].join(' && ');
    const holder = await startProcess(
      ['ip', 'netns', 'exec', ws, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', setup],
      { line: 'READY' },
    );
    children.push(holder.child);
    holderPid = holder.child.pid ?? 0;
    const runDir = `/proc/${holderPid}/root/run`;
    fs.writeFileSync(`${runDir}/systemd/resolved.conf.d/test.conf`, RESOLVED_CONF);
    const inWs = ['nsenter', '-t', String(holderPid), '-m', '-n'];
    children.push(
      (
        await startProcess(
          [...inWs, 'dbus-daemon', `--config-file=${tmp}/bus.conf`, '--nofork', '--nopidfile'],
          {
            file: `${runDir}/dbus/system_bus_socket`,
          },
        )
      ).child,
    );

    const self: ResolvedWorkstation = {
      prefix,
      ws,
      up,
      busAddress: `unix:path=${runDir}/dbus/system_bus_socket`,
      resolvConfPath: path.join(tmp, 'resolv.conf'),
      resolvedRoot,
      exec: (cmd, args, timeoutMs, input) =>
        execAsync(inWs[0] ?? 'nsenter', [...inWs.slice(1), cmd, ...args], timeoutMs, input),
      syncResolvConf: () => {
        // In place (same inode): the bind mount keeps showing this file.
        fs.writeFileSync(
          path.join(tmp, 'resolv.conf'),
          fs.readFileSync(`${runDir}/systemd/resolve/stub-resolv.conf`),
        );
      },
      resolvectl: async (args) => {
        const r = await self.exec(path.join(resolvedRoot, 'usr/bin/resolvectl'), args);
        if (r.code !== 0) throw new Error(`resolvectl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      },
      async startResolved() {
        const p = await startProcess([...inWs, path.join(resolvedRoot, 'lib/systemd/systemd-resolved')], {
          file: `${runDir}/systemd/resolve/stub-resolv.conf`,
        });
        resolved = p.child;
        // The bus name is taken a moment after the stub file appears.
        for (let i = 0; i < 100; i++) {
          const r = await self.exec(path.join(resolvedRoot, 'usr/bin/resolvectl'), ['status']);
          if (r.code === 0) return;
          await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error(`systemd-resolved did not come up: ${p.output()}`);
      },
      async stopResolved() {
        const r = resolved;
        resolved = undefined;
        if (r !== undefined && r.exitCode === null) {
          r.kill();
          await new Promise((res) => r.once('exit', res));
        }
      },
      destroy,
    };
    await self.startResolved();
    return self;
  } catch (err) {
    await destroy();
    throw err;
  }
}
