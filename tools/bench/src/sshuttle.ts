// A real sshuttle over real ssh for the client benchmark, confined to a devcluster's namespaces: sshd
// (extracted by tools/fetch-openssh-server.sh, never installed) listens only on an address inside the
// server namespace, with a host key and client key made for this run; sshuttle (NAT method) runs in the
// client namespace, so its iptables rules (and the route they need) live and die there. stop() ends only
// the processes started here.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SshuttleOptions {
  readonly repo: string;
  /** Namespace sshd runs in, and the address (inside it) it listens on. */
  readonly serverNetns: string;
  readonly serverAddress: string;
  readonly serverPort: number;
  /** Namespace sshuttle and its iptables rules live in. */
  readonly clientNetns: string;
  /** What sshuttle carries, e.g. the pod CIDR. */
  readonly subnet: string;
}

export interface SshuttleRelay {
  /** Stops sshuttle (which removes its rules), then sshd; deletes the keys. Reports leftovers. */
  stop(): Promise<void>;
}

/** Why sshuttle cannot run here, or undefined when it can. */
export function sshuttleUnavailable(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v sshuttle && command -v ssh && command -v ssh-keygen']).status !== 0)
    return 'needs sshuttle and openssh-client (apt-get install sshuttle openssh-client; tools/setup.sh does)';
  return undefined;
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      finish(new Error(`${what} did not start within ${timeoutMs} ms: ${seen.trim()}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (pattern.test(seen)) finish();
    };
    const onExit = (code: number | null): void => {
      finish(new Error(`${what} exited (${code}) before it was ready: ${seen.trim()}`));
    };
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.stderr?.resume(); // keep draining its log so it never blocks on a full pipe
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM to the process, then waits for its whole group (it was started detached, so the group is the
 * processes it started: ssh, sshuttle's firewall helper, sshd sessions) to exit on its own: sshuttle's
 * firewall helper removes its rules once its parent is gone, and a signal would cut that short. Whatever
 * is still there after 10 s gets SIGKILL.
 */
async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  const pgid = child?.pid;
  if (child === undefined || pgid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  }
  for (let i = 0; i < 100 && groupAlive(pgid); i++) await sleep(100);
  if (groupAlive(pgid)) {
    console.log(`  warning: processes of group ${pgid} did not exit; killing them`);
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

export async function startSshuttle(o: SshuttleOptions): Promise<SshuttleRelay> {
  const sshd = execFileSync('bash', [path.join(o.repo, 'tools/fetch-openssh-server.sh')], {
    encoding: 'utf8',
  }).trim();
  const dir = mkdtempSync(path.join(tmpdir(), 'sshb-'));
  const f = (name: string): string => path.join(dir, name);
  let sshdProc: ChildProcess | undefined;
  let sshuttle: ChildProcess | undefined;
  let routeAdded = false;
  const route = (op: 'add' | 'del'): boolean =>
    spawnSync('ip', ['-n', o.clientNetns, 'route', op, o.subnet, 'via', o.serverAddress]).status === 0;
  const stop = async (): Promise<void> => {
    await stopProcess(sshuttle);
    await stopProcess(sshdProc);
    if (routeAdded) route('del');
    const nat = spawnSync('ip', ['netns', 'exec', o.clientNetns, 'iptables-save', '-t', 'nat'], {
      encoding: 'utf8',
    });
    if (/sshuttle/.test(nat.stdout))
      console.log(`  warning: sshuttle's nat rules are still in ${o.clientNetns} (removed with the cluster)`);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const key of ['host_key', 'client_key'])
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', f(key)]);
    writeFileSync(f('authorized_keys'), readFileSync(f('client_key.pub')));
    writeFileSync(
      f('known_hosts'),
      `[${o.serverAddress}]:${o.serverPort} ${readFileSync(f('host_key.pub'), 'utf8')}`,
    );
    writeFileSync(
      f('sshd_config'),
      [
        `ListenAddress ${o.serverAddress}:${o.serverPort}`,
        `HostKey ${f('host_key')}`,
        `AuthorizedKeysFile ${f('authorized_keys')}`,
        'PidFile none',
        'StrictModes no', // the keys live under /tmp, which is world-writable
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UseDNS no',
        '',
      ].join('\n'),
    );
    // sshd needs a privilege-separation user and /run/sshd. Both exist only in sshd's own mount
    // namespace: a copy of /etc/passwd with the user added, bound over the real one, and a private /run.
    const passwd = readFileSync('/etc/passwd', 'utf8');
    writeFileSync(
      f('passwd'),
      /^sshd:/m.test(passwd)
        ? passwd
        : `${passwd.replace(/\n?$/, '\n')}sshd:x:65534:65534:sshd:/run/sshd:/usr/sbin/nologin\n`,
    );
    writeFileSync(
      f('sshd.sh'),
      [
        'set -e',
        `mount --bind '${f('passwd')}' /etc/passwd`,
        'mount -t tmpfs -o mode=0755 tmpfs /run',
        'mkdir -m 0755 /run/sshd',
        `exec '${sshd}' -D -e -f '${f('sshd_config')}'`,
        '',
      ].join('\n'),
    );
    sshdProc = spawn('ip', ['netns', 'exec', o.serverNetns, 'unshare', '-m', 'sh', f('sshd.sh')], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await waitForLine(sshdProc, /Server listening/, 'sshd', 15_000);

    // sshuttle's REDIRECT rule sits in the nat OUTPUT chain, which a connect() only reaches when the
    // destination has a route; the workstation has none to the pods (only the VIF adds one). The packets
    // never take it: they are redirected to sshuttle on loopback first.
    // If one exists already (add fails), it is not ours to delete.
    routeAdded = route('add');
    const ssh = [
      'ssh -F /dev/null -o BatchMode=yes',
      `-i ${f('client_key')}`,
      `-o UserKnownHostsFile=${f('known_hosts')}`,
    ].join(' ');
    sshuttle = spawn(
      'ip',
      [
        ...['netns', 'exec', o.clientNetns, 'sshuttle', '--method', 'nat'],
        ...['--python', '/usr/bin/python3', '-e', ssh],
        ...['-r', `root@${o.serverAddress}:${o.serverPort}`, o.subnet],
      ],
      { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    await waitForLine(sshuttle, /Connected to server/, 'sshuttle', 60_000);
    return { stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
