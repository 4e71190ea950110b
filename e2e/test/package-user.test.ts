// The packaged client as a user meets it (issue 20): `npm run package` builds the single-executable
// binary and the .deb, `dpkg -i` installs it, and freshly created non-root users run the installed
// /usr/bin/telepresence in the devcluster workstation. The user with sudo rights connects (the daemon
// starts through sudo), reaches a service by name, lists, intercepts, leaves and quits, with the kubeconfig
// in their home whose exec credential plugin records the uid it runs as. A user without sudo rights gets
// a clear refusal, and cannot use the first user's daemon. Everything is removed at the end (dpkg -r,
// userdel, the sudoers file).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { KubeConfig, type CoreV1Api } from '@kubernetes/client-node';
import type { DevCluster } from '@telepresence/devcluster';
import {
  apply,
  describeRoot,
  echoFixtureYaml,
  execAsync,
  installManager,
  isReady,
  poller,
  repo,
  startCluster,
} from './helpers/tp-cluster.js';
import {
  addUsers,
  buildAndInstallPackage,
  execKubeconfig,
  installUserKubeconfig,
  must,
  removePackage,
  removeUsers,
  runAsUser,
  uidOf,
} from './helpers/packaged-user.js';

const until = poller({ timeoutMs: 60_000 });
const suffix = Math.random().toString(36).slice(2, 6);
const user = `tpu${suffix}`; // has sudo rights for /usr/bin/telepresence
const other = `tpo${suffix}`; // has none
const asker = `tpp${suffix}`; // has sudo rights with a password
const sudoersFile = `/etc/sudoers.d/telepresence-e2e-${suffix}`;

/** An exec credential plugin that records the uid it runs as, then hands out `token`. */
const credentialPlugin = (token: string, uidFile: string): string => `#!/bin/sh
id -u >> ${uidFile}
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' '${token}'
`;

describeRoot('the installed package, used by non-root users through sudo', () => {
  jest.setTimeout(300_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let work: string;
  let runDir: string;
  let home: string;
  let token: string;
  let local: ChildProcess | undefined;

  /** ARGS as `name` in the workstation, with a login-like environment of that user. */
  const as = runAsUser(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => as(user, ['telepresence', ...args]);
  /** Gives `name` the cluster's admin kubeconfig as ~/.kube/config. */
  const giveAdminKubeconfig = async (name: string): Promise<void> => {
    const kube = path.join(`/home/${name}`, '.kube');
    await must(execAsync('install', ['-d', '-o', name, '-m', '0700', kube]), 'mkdir');
    await must(
      execAsync('install', ['-o', name, '-m', '0600', cluster.kubeconfig, `${kube}/config`]),
      'kubeconfig',
    );
  };
  const pods = async (ns: string, selector: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);
  const list = async () =>
    JSON.parse((await must(tp('list', '-o', 'json'), 'list')).stdout) as Array<{
      name: string;
      interceptState: string;
    }>;

  beforeAll(async () => {
    await buildAndInstallPackage();
    work = mkdtempSync(path.join(tmpdir(), 'pkg-e2e-'));
    chmodSync(work, 0o755); // the users reach the run dir inside it
    runDir = path.join(work, 'run');
    await addUsers(
      [user, other, asker],
      sudoersFile,
      `${user} ALL=(root) NOPASSWD: /usr/bin/telepresence\n${asker} ALL=(root) /usr/bin/telepresence\n`,
    );
    await must(execAsync('chpasswd', [], 10_000, undefined, `${asker}:pw-${suffix}\n`), 'chpasswd');
    home = `/home/${user}`;

    cluster = await startCluster('i20', { randomChars: 3 });
    ({ core } = await installManager(cluster));
    // The user's kubeconfig: the cluster's server and CA, a token from an exec plugin in their home.
    const issued = new KubeConfig();
    issued.loadFromFile((await cluster.userKubeconfig({ user, token: true })).kubeconfig);
    token = issued.getCurrentUser()!.token!;
    const cl = issued.getCurrentCluster()!;
    await apply(
      cluster,
      `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${user}-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: ${user} }]
---
${echoFixtureYaml()}`,
    );
    writeFileSync(path.join(home, 'cred.sh'), credentialPlugin(token, path.join(home, 'plugin-uids')), {
      mode: 0o755,
    });
    await installUserKubeconfig(
      user,
      execKubeconfig({ server: cl.server, caData: cl.caData!, user, command: path.join(home, 'cred.sh') }),
    );

    await until('manager and echo ready', async () =>
      (await pods('ambassador', 'app.kubernetes.io/name=traffic-manager')).length === 1 &&
      (await pods('default', 'app=echo')).length === 2
        ? true
        : undefined,
    );
    local = spawn(
      'ip',
      [
        'netns',
        'exec',
        cluster.workstationNetns,
        'node',
        '-e',
        `require('http').createServer((q, s) => s.end('local')).listen(8080, '127.0.0.1')`,
      ],
      { stdio: 'ignore' },
    );
  }, 900_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    local?.kill();
    await cluster?.down();
    await removeUsers([user, other, asker], sudoersFile);
    await removePackage();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 180_000);

  it('installs /usr/bin/telepresence, the addons, copyright, a man page matching --help, completions', async () => {
    const files = (await must(execAsync('dpkg', ['-L', 'telepresence']), 'dpkg -L')).stdout.split('\n');
    expect(files).toEqual(
      expect.arrayContaining([
        '/usr/bin/telepresence',
        '/usr/lib/telepresence/tun.node',
        '/usr/lib/telepresence/udp.node',
        '/usr/share/doc/telepresence/copyright',
        '/usr/share/man/man1/telepresence.1.gz',
        '/usr/share/bash-completion/completions/telepresence',
        '/usr/share/zsh/vendor-completions/_telepresence',
      ]),
    );
    // Nothing from the checkout: run from / with an empty environment.
    const help = await must(execAsync('env', ['-i', '/usr/bin/telepresence', '--help']), 'help');
    const man = (await must(execAsync('sh', ['-c', 'gzip -dc /usr/share/man/man1/telepresence.1.gz']), 'man'))
      .stdout;
    const commands = [...help.stdout.matchAll(/^ {2}([a-z][\w-]*)/gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    expect(commands).toEqual(
      expect.arrayContaining(['connect', 'status', 'quit', 'list', 'intercept', 'version']),
    );
    for (const c of commands) expect(man).toContain(`.SS "telepresence ${c}"`);
    const copyright = readFileSync('/usr/share/doc/telepresence/copyright', 'utf8');
    expect(copyright).toMatch(/^Files: \*\nCopyright: .+\nLicense: Apache-2\.0$/m);
    expect(copyright).toMatch(/^License: Apache-2\.0\n +Apache License\n +Version 2\.0, January 2004$/m);
    expect(copyright).toMatch(/bundled npm package commander@/);
    expect(copyright).toMatch(/Node\.js v20/);
  });

  it('a user without sudo rights gets a clear refusal', async () => {
    await giveAdminKubeconfig(other);
    const r = await as(other, ['telepresence', 'connect']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sudo refused to start the root daemon/);
    expect(r.stderr).toMatch(/ask an administrator to allow you `sudo telepresence`/);
    expect(existsSync(path.join(runDir, 'daemon.sock'))).toBe(false);
  });

  it('connect through sudo, reach a service by name, list, intercept, leave, quit; the plugin ran as the user', async () => {
    const uid = await uidOf(user);
    const addonsExtractedBefore = existsSync('/run/telepresence-addons');
    const c = await tp('connect');
    expect({ code: c.code, err: c.stderr }).toEqual({ code: 0, err: '' });
    expect(c.stdout).toMatch(/Starting the root daemon/);

    // The exec credential plugin in the user's ~/.kube/config ran, and only as the user.
    const uids = readFileSync(path.join(home, 'plugin-uids'), 'utf8').trim().split('\n');
    expect(uids.length).toBeGreaterThan(0);
    expect(new Set(uids)).toEqual(new Set([uid]));

    // The daemon runs as root; its socket and log are the user's.
    const log = await as(user, ['cat', path.join(runDir, 'daemon.log')]);
    expect(log.code).toBe(0);
    expect(log.stdout).toMatch(/daemon serving/);
    const status = JSON.parse((await must(tp('status', '-o', 'json'), 'status')).stdout) as {
      connected: boolean;
      tun: string;
    };
    expect(status.connected).toBe(true);
    // config view: the chart's client values, which the manager pushes, are a layer with their origin.
    type View = Record<string, { value: unknown; source: string }>;
    const view = async (): Promise<View> =>
      JSON.parse((await must(tp('config', 'view', '-o', 'json'), 'config view')).stdout) as View;
    const connectedView = await view();
    expect(connectedView['dns.excludeSuffixes']).toEqual({
      value: ['.com', '.io', '.net', '.org', '.ru'],
      source: expect.stringMatching(
        /^cluster: traffic-manager \S+ in namespace ambassador, chart values client:$/,
      ) as unknown as string,
    });
    expect(connectedView['logLevel']?.source).toBe('default');

    // Another non-root user cannot use this daemon.
    const denied = await as(other, ['telepresence', 'status']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/permission denied: the daemon at .* belongs to another user/);
    const otherVersion = await as(other, ['telepresence', 'version']);
    expect({ code: otherVersion.code, out: otherVersion.stdout.trim() }).toEqual({
      code: 0,
      out: 'Client: v0.1.0',
    });
    expect(otherVersion.stderr).toMatch(/^warning: permission denied/);

    const byName = await as(user, ['curl', '-sS', '--max-time', '10', 'http://echo.default/']);
    expect(byName.stderr).toBe('');
    expect(byName.stdout).toMatch(/echo-/);

    expect((await list()).find((w) => w.name === 'echo')).toMatchObject({ interceptState: '' });
    const ic = await tp('intercept', 'echo', '--port', '8080:http');
    expect({ code: ic.code, err: ic.stderr }).toEqual({ code: 0, err: '' });
    await until(
      'echo intercepted',
      async () =>
        (await list()).find((w) => w.name === 'echo')?.interceptState === 'ACTIVE' ? true : undefined,
      120_000,
    );
    // The commands users reach for, while connected.
    const version = await must(tp('version'), 'version');
    expect(version.stdout).toMatch(/^Client: v0\.1\.0\nRoot daemon: v0\.1\.0\nTraffic manager: v\d/);
    expect(version.stderr).toBe('');
    const level = await must(tp('loglevel', 'debug', '--duration', '10m'), 'loglevel');
    expect(level.stdout).toMatch(/^Daemon log level set to debug for 600s \(then info again\)/);
    const archive = path.join(home, 'logs.tar.gz');
    const gathered = await must(tp('gather-logs', '-o', archive), 'gather-logs');
    expect(gathered.stdout).toMatch(/^Wrote .*logs\.tar\.gz \(\d+ files, secrets redacted\)/);
    const unpacked = path.join(work, 'logs');
    await must(execAsync('mkdir', ['-p', unpacked]), 'mkdir');
    await must(execAsync('tar', ['-xzf', archive, '-C', unpacked]), 'untar');
    const names = (await must(execAsync('find', [unpacked, '-type', 'f']), 'find')).stdout;
    expect(names).toMatch(/\/daemon\.log$/m);
    expect(names).toMatch(/\/cluster\/traffic-manager\/traffic-manager-[^/]+\.log$/m);
    expect(names).toMatch(/\/cluster\/traffic-agents\/default\/echo-[^/]+\.log$/m);
    expect(readFileSync(path.join(unpacked, 'daemon.log'), 'utf8')).toMatch(/log level set/);
    expect(JSON.parse(readFileSync(path.join(unpacked, 'status.json'), 'utf8'))).toMatchObject({
      connected: true,
    });
    const everything = (await must(execAsync('sh', ['-c', `cat $(find ${unpacked} -type f)`]), 'cat')).stdout;
    expect(everything).not.toContain(token);

    const leave = await tp('leave', 'echo');
    expect(leave.stdout).toMatch(/Left intercept echo/);

    const quit = await tp('quit');
    expect({ code: quit.code, out: quit.stdout.trim() }).toEqual({ code: 0, out: 'Disconnected' });
    expect(existsSync(path.join(runDir, 'daemon.sock'))).toBe(false);
    expect(existsSync(path.join(runDir, 'state.json'))).toBe(false);
    expect((await view())['dns.excludeSuffixes']?.source).toBe('default'); // no cluster layer now
    const links = await execAsync('ip', ['netns', 'exec', cluster.workstationNetns, 'ip', '-o', 'link']);
    expect(links.stdout).not.toContain(`${status.tun}:`);
    // The daemon loaded the addons the package installed (nothing extracted).
    expect(existsSync('/run/telepresence-addons')).toBe(addonsExtractedBefore);
  });

  it('sudo asks for the password on the terminal when the sudoers rule wants one', async () => {
    await giveAdminKubeconfig(asker);
    // `script` gives the CLI a terminal; the password is typed when sudo's prompt shows.
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        cluster.workstationNetns,
        'runuser',
        '-u',
        asker,
        '--',
        'env',
        '-i',
        `HOME=/home/${asker}`,
        'PATH=/usr/bin:/bin',
        `TELEPRESENCE_RUN_DIR=${runDir}`,
        'script',
        '-qec',
        'telepresence status; telepresence connect',
        '/dev/null',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      const before = seen;
      seen += d.toString();
      if (!/password for/.test(before) && /password for/.test(seen)) child.stdin!.write(`pw-${suffix}\n`);
    });
    await new Promise<number | null>((resolve) => child.on('close', resolve));
    // After the first user's daemon quit, another user sees no daemon (not "permission denied").
    expect(seen).toMatch(/^Not connected/);
    expect(seen).toContain(`[sudo] password for ${asker}:`);
    expect(seen).toMatch(/Starting the root daemon/);
    expect(seen).toMatch(/Connected/);
    const quit = await as(asker, ['telepresence', 'quit']);
    expect({ code: quit.code, out: quit.stdout.trim() }).toEqual({ code: 0, out: 'Disconnected' });
  });

  it('the binary alone (no package): root extracts its addons into a root-only directory, checked, and connects', async () => {
    await must(execAsync('dpkg', ['-r', 'telepresence'], 120_000), 'dpkg -r');
    expect(existsSync('/usr/lib/telepresence')).toBe(false);
    const extracted = '/run/telepresence-addons';
    const existedBefore = existsSync(extracted);
    const bin = path.join(work, 'bin');
    await must(
      execAsync('install', [
        '-D',
        '-m',
        '0755',
        path.join(repo, 'dist/package/telepresence'),
        `${bin}/telepresence`,
      ]),
      'install',
    );
    const ownRun = path.join(work, 'run-root');
    const root = (...args: string[]) =>
      execAsync(
        'ip',
        [
          'netns',
          'exec',
          cluster.workstationNetns,
          'env',
          '-i',
          'PATH=/usr/sbin:/usr/bin:/sbin:/bin', // root's PATH, as sudo's secure_path
          `TELEPRESENCE_RUN_DIR=${ownRun}`,
          `${bin}/telepresence`,
          ...args,
        ],
        180_000,
      );
    try {
      const c = await root('connect', '--kubeconfig', cluster.kubeconfig);
      expect({ code: c.code, err: c.stderr }).toEqual({ code: 0, err: '' });
      const st = (await must(execAsync('stat', ['-c', '%a %U', extracted]), 'stat')).stdout.trim();
      expect(st).toBe('700 root');
      const files = (await must(execAsync('ls', [extracted]), 'ls')).stdout;
      expect(files).toMatch(/^tun-[0-9a-f]{16}\.node$/m);
      expect((await root('quit')).code).toBe(0);
    } finally {
      await root('quit');
      if (!existedBefore) rmSync(extracted, { recursive: true, force: true });
    }
  });
});
