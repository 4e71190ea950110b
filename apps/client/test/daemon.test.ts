// The whole client against a stand-in manager, in namespaces of our own: connect through the CLI, the
// owner-only socket, traffic through the VIF and tunnel, DNS by name, a closed port refused at once, live
// subnet changes, quit leaving the namespace exactly as before, and recovery after kill -9.
import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildClient, inNs, makePair, startInNs, uniquePrefix } from './helpers/netns.js';
import { needs } from 'test-requirements';

const describeRoot = needs('root').describe;
const drivers = path.join(process.cwd(), 'test', 'drivers');
const main = path.join(process.cwd(), 'dist', 'main.js');

describeRoot('daemon (root, namespaces, fake manager)', () => {
  jest.setTimeout(180_000);
  const prefix = uniquePrefix();
  let pair: ReturnType<typeof makePair>;
  let upstream: Awaited<ReturnType<typeof startInNs>>;
  let manager: Awaited<ReturnType<typeof startInNs>>;
  let tmp: string;
  let runDir: string;
  let kubeconfig: string;
  let netnsEtc: string;

  const cli = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync('ip', ['netns', 'exec', pair.a, process.execPath, main, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        TELEPRESENCE_RUN_DIR: runDir,
        XDG_CONFIG_HOME: path.join(tmp, 'config'),
        KUBECONFIG: kubeconfig,
      },
      timeout: 60_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const snapshot = (): Record<string, string> => ({
    routes4: inNs(pair.a, 'ip', ['-4', 'route', 'show', 'table', 'all']),
    routes6: inNs(pair.a, 'ip', ['-6', 'route', 'show', 'table', 'all']),
    links: inNs(pair.a, 'ip', ['-o', 'link', 'show']).replace(/\s+link\/\S+.*$/gm, ''),
    nft: inNs(pair.a, 'nft', ['list', 'ruleset']),
    resolv: fs.readFileSync(path.join(netnsEtc, 'resolv.conf'), 'utf8'),
  });
  const curl = (...args: string[]): { code: number; out: string } => {
    const r = spawnSync('ip', ['netns', 'exec', pair.a, 'curl', '-sS', '--max-time', '10', ...args], {
      encoding: 'utf8',
    });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  };
  const connect = (...extra: string[]) => {
    const r = cli('connect', '--manager-address', `${pair.bIp}:8081`, '-o', 'json', ...extra);
    return {
      ...r,
      json: r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as Record<string, unknown>),
    };
  };

  beforeAll(async () => {
    buildClient();
    pair = makePair(prefix);
    inNs(pair.b, 'ip', ['addr', 'add', '198.18.7.5/32', 'dev', 'lo']);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    runDir = path.join(tmp, 'run');
    netnsEtc = path.join('/etc/netns', pair.a);
    fs.mkdirSync(netnsEtc, { recursive: true });
    fs.writeFileSync(path.join(netnsEtc, 'resolv.conf'), `nameserver ${pair.bIp}\n`);
    kubeconfig = path.join(tmp, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://198.18.250.6:6443"}}]
users: [{name: fake, user: {token: x}}]
contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: default}}]
current-context: fake
`,
    );
    upstream = await startInNs(pair.b, [
      process.execPath,
      path.join(drivers, 'fake-upstream.mjs'),
      pair.bIp,
      '53',
    ]);
    manager = await startInNs(pair.b, [
      process.execPath,
      path.join(drivers, 'fake-manager.mjs'),
      `${pair.bIp}:8081`,
      '198.18.7.5',
      '8080',
      '198.18.8.0/24',
      '198.18.7.0/24',
    ]);
  });

  afterAll(() => {
    try {
      if (pair) cli('quit');
    } catch {
      // best effort
    }
    upstream?.child.kill();
    manager?.child.kill();
    pair?.destroy();
    if (netnsEtc) fs.rmSync(netnsEtc, { recursive: true, force: true });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('connects, carries traffic and DNS, follows subnet changes, and quits leaving nothing behind', async () => {
    const before = snapshot();
    const c = connect();
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.json?.['connected']).toBe(true);
    expect(c.json?.['routedSubnets']).toEqual(['198.18.7.0/24', '198.18.8.0/24']);

    // The socket and the log are the owner's only; the dir lets other users see there is a daemon.
    expect(fs.statSync(runDir).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(runDir, 'daemon.sock')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(runDir, 'daemon.log')).mode & 0o777).toBe(0o600);

    // By IP and by name, through the VIF and the tunnel.
    expect(curl('http://198.18.7.5:8080/').out).toContain('echo from 198.18.7.5');
    expect(curl('http://echo.default:8080/').out).toContain('echo from 198.18.7.5');
    expect(curl('http://echo.default.svc.cluster.local:8080/').out).toContain('echo from 198.18.7.5');
    // Non-cluster names still go to the original nameserver.
    expect(inNs(pair.a, 'dig', ['+short', 'foo.example.test']).trim()).toBe('198.18.250.99');
    // A closed port is refused at once.
    const started = Date.now();
    const refused = curl('http://198.18.7.5:8099/');
    expect(refused.code).toBe(7);
    expect(refused.out).toMatch(/Connection refused|Couldn't connect/i);
    expect(Date.now() - started).toBeLessThan(5000);

    // A new pod subnet is routed while connected.
    manager.child.stdin.write('pods 198.18.7.0/24,198.18.9.0/24\n');
    let routed: unknown;
    for (let i = 0; i < 50; i++) {
      routed = (JSON.parse(cli('status', '-o', 'json').stdout) as { routedSubnets: string[] }).routedSubnets;
      if (Array.isArray(routed) && routed.includes('198.18.9.0/24')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(routed).toEqual(['198.18.7.0/24', '198.18.8.0/24', '198.18.9.0/24']);
    expect(inNs(pair.a, 'ip', ['route', 'show', '198.18.9.0/24'])).toContain('dev tel');
    manager.child.stdin.write('pods 198.18.7.0/24\n');

    const status = cli('status');
    expect(status.stdout).toContain('Connected');
    expect(status.stdout).toContain(`Daemon log:        ${runDir}/daemon.log`);

    const q = cli('quit');
    expect(q.stdout.trim()).toBe('Disconnected');
    expect(snapshot()).toEqual(before);
    await new Promise((r) => setTimeout(r, 300)); // let the manager's output in (spawnSync blocked the loop)
    expect(manager.output()).toMatch(/DEPARTED session-/);
  });

  it('refuses a subnet that conflicts with a local route, naming both, unless allowed', () => {
    inNs(pair.a, 'ip', ['route', 'add', '198.18.7.128/25', 'dev', `${prefix}a`]);
    try {
      const before = snapshot();
      const c = connect();
      expect(c.code).toBe(1);
      expect(JSON.stringify(c.json)).toContain(
        'subnet 198.18.7.0/24 overlaps with existing route \\"198.18.7.128/25 dev',
      );
      expect(cli('quit').code).toBe(0);
      expect(snapshot()).toEqual(before);
      const ok = connect('--allow-conflicting-subnets', '198.18.7.0/24');
      expect(ok.code).toBe(0);
      expect(cli('quit').code).toBe(0);
      expect(snapshot()).toEqual(before);
    } finally {
      inNs(pair.a, 'ip', ['route', 'del', '198.18.7.128/25']);
    }
  });

  it('cleans up after kill -9 of the daemon: the watchdog at once, quit finds nothing left', async () => {
    const before = snapshot();
    expect(connect().code).toBe(0);
    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as {
      pid: number;
      tun: string;
    };
    expect(inNs(pair.a, 'nft', ['list', 'tables'])).toContain('telepresence_dns');
    process.kill(state.pid, 'SIGKILL');
    // The machine's DNS must not keep pointing at the dead daemon's server.
    let tables = '';
    for (let i = 0; i < 50; i++) {
      tables = inNs(pair.a, 'nft', ['list', 'tables']);
      if (!tables.includes('telepresence_dns')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(tables).not.toContain('telepresence_dns');
    expect(inNs(pair.a, 'dig', ['+short', '+time=2', 'foo.example.test']).trim()).toBe('198.18.250.99');
    const q = cli('quit');
    expect(q.code).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(cli('quit').stdout.trim()).toBe('Not connected');
  });

  it('a dead daemon without a watchdog is cleaned by the next quit', async () => {
    const before = snapshot();
    expect(connect().code).toBe(0);
    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as { pid: number };
    // Kill the daemon's watchdog first (its pid is in the run dir), then the daemon.
    process.kill(Number(fs.readFileSync(path.join(runDir, 'watchdog.pid'), 'utf8')), 'SIGKILL');
    process.kill(state.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect(inNs(pair.a, 'nft', ['list', 'tables'])).toContain('telepresence_dns');
    const q = cli('quit');
    expect(q.code).toBe(0);
    expect(q.stdout).toContain('nft table ip telepresence_dns');
    expect(snapshot()).toEqual(before);
  });
});
