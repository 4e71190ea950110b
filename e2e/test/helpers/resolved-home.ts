// systemd-resolved inside devcluster's workstation namespace: a holder process owns a mount namespace in
// which /run/dbus and /run/systemd are private tmpfs mounts and /etc/resolv.conf, /etc/passwd and /etc/group
// are bind-mounted copies; a private dbus-daemon (permissive policy) and systemd-resolved (extracted by
// tools/fetch-systemd-resolved.sh, never installed) run there. Everything the workstation runs (the
// telepresence CLI and daemon, getent, curl, node) is started with nsenter into that holder.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execAsync, repo, type Exec, type Workstation } from './tp-cluster.js';

const BUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
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

export interface ResolvedHome extends Workstation {
  readonly holderPid: number;
  resolvectl(args: readonly string[]): Promise<string>;
  /** Copies resolved's stub-resolv.conf (search domains included) into the private /etc/resolv.conf. */
  syncResolvConf(): void;
  startResolved(): Promise<void>;
  stopResolved(): Promise<void>;
  destroy(): Promise<void>;
}

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  child?: ChildProcess,
): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (child !== undefined && child.exitCode !== null)
      throw new Error(`${what}: process exited ${child.exitCode}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready after 20 s`);
}

export async function startResolvedHome(netns: string, upstreamDns: string): Promise<ResolvedHome> {
  const root = execFileSync('bash', [path.join(repo, 'tools/fetch-systemd-resolved.sh')], {
    encoding: 'utf8',
  }).trim();
  const tmp = mkdtempSync(path.join(tmpdir(), `${netns}-resolved-`));
  writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 127.0.0.53\noptions edns0 trust-ad\n');
  writeFileSync(
    path.join(tmp, 'passwd'),
    `${readFileSync('/etc/passwd', 'utf8')}systemd-resolve:x:991:991:systemd Resolver:/:/usr/sbin/nologin\n`,
  );
  writeFileSync(path.join(tmp, 'group'), `${readFileSync('/etc/group', 'utf8')}systemd-resolve:x:991:\n`);
  writeFileSync(path.join(tmp, 'bus.conf'), BUS_CONFIG);
  const setup = [
    'mount -t tmpfs -o mode=755 tmpfs /run/dbus',
    'mount -t tmpfs -o mode=755 tmpfs /run/systemd',
    'mkdir -p /run/systemd/resolved.conf.d',
    `mount --bind ${tmp}/resolv.conf /etc/resolv.conf`,
    `mount --bind ${tmp}/passwd /etc/passwd`,
    `mount --bind ${tmp}/group /etc/group`,
    'echo READY',
    'exec sleep 1000000',
  ].join(' && ');
  const children: ChildProcess[] = [];
  let resolved: ChildProcess | undefined;
  const stop = async (c: ChildProcess | undefined): Promise<void> => {
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      c.kill();
      await new Promise((r) => c.once('exit', r));
    }
  };
  const destroy = async (): Promise<void> => {
    await stop(resolved);
    for (const c of children.reverse()) await stop(c);
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const holder = spawn(
      'ip',
      ['netns', 'exec', netns, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', setup],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(holder);
    let out = '';
    holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
    holder.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(`mount namespace holder (${out})`, () => out.includes('READY'), holder);
    const pid = holder.pid ?? 0;
    const runDir = `/proc/${pid}/root/run`;
    writeFileSync(
      `${runDir}/systemd/resolved.conf.d/e2e.conf`,
      `[Resolve]\nDNS=${upstreamDns}\nLLMNR=no\nMulticastDNS=no\nDNSSEC=no\nDNSStubListener=yes\n`,
    );
    const nsenter = ['-t', String(pid), '-m', '-n'];
    const bus = spawn(
      'nsenter',
      [...nsenter, 'dbus-daemon', `--config-file=${tmp}/bus.conf`, '--nofork', '--nopidfile'],
      {
        stdio: 'ignore',
      },
    );
    children.push(bus);
    await waitFor('dbus-daemon', () => existsSync(`${runDir}/dbus/system_bus_socket`), bus);

    const exec = (cmd: string, args: readonly string[], timeoutMs?: number): Promise<Exec> =>
      execAsync('nsenter', [...nsenter, cmd, ...args], timeoutMs);
    const home: ResolvedHome = {
      holderPid: pid,
      exec,
      async resolvectl(args) {
        const r = await exec(path.join(root, 'usr/bin/resolvectl'), args);
        if (r.code !== 0) throw new Error(`resolvectl ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      },
      syncResolvConf() {
        writeFileSync(
          path.join(tmp, 'resolv.conf'),
          readFileSync(`${runDir}/systemd/resolve/stub-resolv.conf`),
        );
      },
      async startResolved() {
        const child = spawn('nsenter', [...nsenter, path.join(root, 'lib/systemd/systemd-resolved')], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        // Its last words, should it exit before it is up (it logs to stderr without a journal).
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
        resolved = child;
        await waitFor(
          'systemd-resolved',
          async () => (await exec(path.join(root, 'usr/bin/resolvectl'), ['status'])).code === 0,
          child,
        ).catch((e: Error) => {
          throw new Error(`${e.message}: ${stderr.trim()}`);
        });
      },
      async stopResolved() {
        await stop(resolved);
        resolved = undefined;
      },
      destroy,
    };
    await home.startResolved();
    return home;
  } catch (err) {
    await destroy();
    throw err;
  }
}
