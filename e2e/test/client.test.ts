// End to end for `telepresence connect|status|quit` (issue 8) on devcluster, as root: the chart rendered
// by `helm template` and applied, the client run from the workstation namespace (which has no route to
// pods or services of its own), real curl, dig and Node sockets.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { jest } from '@jest/globals';
import type { CoreV1Api } from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';

import {
  apply,
  clientMain as client,
  describeRoot,
  echoYaml,
  installManager,
  isReady,
  startCluster,
  until,
  workstationRunner,
} from './helpers/tp-cluster.js';

describeRoot('telepresence connect on devcluster', () => {
  jest.setTimeout(180_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let work: string;
  let runDir: string;

  /** Runs a command in the workstation namespace (stdin closed, so nothing waits on it). */
  const ws = workstationRunner(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => ws(['node', client, ...args], 90_000);
  const connect = async (...args: string[]) => {
    const r = await tp('connect', '--kubeconfig', cluster.kubeconfig, '-o', 'json', ...args);
    return { ...r, json: JSON.parse(r.out || '{}') as Record<string, unknown> };
  };
  const status = async () =>
    JSON.parse((await tp('status', '-o', 'json')).out) as {
      connected: boolean;
      routedSubnets: string[];
      outage: string;
    };
  const curl = (url: string, maxTime = 10) => ws(['curl', '-sS', '--max-time', String(maxTime), url]);
  const dig = async (...args: string[]) => (await ws(['dig', '+time=2', '+tries=1', ...args])).out;
  const snapshot = async (): Promise<Record<string, string>> => ({
    routes4: (await ws(['ip', '-4', 'route', 'show', 'table', 'all'])).out,
    routes6: (await ws(['ip', '-6', 'route', 'show', 'table', 'all'])).out,
    links: (await ws(['ip', '-o', 'link', 'show'])).out,
    nft: (await ws(['nft', 'list', 'ruleset'])).out,
    resolv: readFileSync(`/etc/netns/${cluster.workstationNetns}/resolv.conf`, 'utf8'),
  });
  const pods = async (ns: string, selector: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);
  const managerPod = () =>
    until(
      'a ready traffic-manager pod',
      async () => (await pods('ambassador', 'app.kubernetes.io/name=traffic-manager'))[0],
    );
  const echoPods = () =>
    until('two ready echo pods', async () => {
      const list = await pods('default', 'app=echo');
      return list.length === 2 ? list : undefined;
    });

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'cl-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('cl');
    ({ core } = await installManager(cluster, { values: ['subnetDebounce=200ms'] }));
    await apply(cluster, echoYaml());
    await managerPod();
    await echoPods();
  }, 120_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('1-2: reaches echo by name, ClusterIP and pod IP from the manager; short TTL; other names upstream; closed port refused at once', async () => {
    const before = await snapshot();
    const c = await connect();
    expect(c.err).toBe('');
    expect(c.json['connected']).toBe(true);
    const manager = await managerPod();
    const [pod] = await echoPods();
    const svc = await core.readNamespacedService({ namespace: 'default', name: 'echo' });

    for (const url of [
      'http://echo.default',
      'http://echo.default.svc.cluster.local',
      `http://${svc.spec?.clusterIP}`,
      `http://${pod?.status?.podIP}:8080`,
    ]) {
      const r = await curl(url);
      expect({ url, code: r.code, err: r.err }).toEqual({ url, code: 0, err: '' });
      expect((JSON.parse(r.out) as { remoteAddress: string }).remoteAddress).toBe(manager.status?.podIP);
    }
    const answer = (await dig('+noall', '+answer', 'echo.default.svc.cluster.local')).trim().split(/\s+/);
    expect(answer[3]).toBe('A');
    expect(answer[4]).toBe(svc.spec?.clusterIP);
    expect(Number(answer[1])).toBeLessThanOrEqual(5);
    expect((await dig('+short', 'foo.example.test')).trim()).not.toBe('');

    const started = Date.now();
    const refused = await ws([
      'node',
      '-e',
      `require('net').connect(8099, '${pod?.status?.podIP}').on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => { console.log('connected'); process.exit(1); })`,
    ]);
    expect(refused.out.trim()).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(5000);

    expect((await tp('quit')).code).toBe(0);
    expect(await snapshot()).toEqual(before);
  });

  it('7: a bulk transfer through the whole path arrives intact', async () => {
    expect((await connect()).code).toBe(0);
    // 16 MiB of random bytes to the echo server's TCP port and back; both directions checked by hash.
    const script = `
      const net = require('net'), crypto = require('crypto');
      const data = crypto.randomBytes(16 << 20);
      const want = crypto.createHash('sha256').update(data).digest('hex');
      const chunks = []; let size = 0; let header = true;
      const s = net.connect(9000, 'echo.default', () => s.write(data));
      s.on('data', (c) => {
        if (header) { const nl = c.indexOf(10); if (nl < 0) return; c = c.subarray(nl + 1); header = false; }
        chunks.push(c); size += c.length;
        if (size >= data.length) {
          const got = crypto.createHash('sha256').update(Buffer.concat(chunks).subarray(0, data.length)).digest('hex');
          console.log(got === want ? 'intact' : 'corrupt'); s.destroy();
        }
      });
      s.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });`;
    const r = await ws(['node', '-e', script], 120_000);
    expect(r.out.trim()).toBe('intact');
    expect((await tp('quit')).code).toBe(0);
  });

  it('3: never-proxy one pod, also-proxy a range, conflicting routes', async () => {
    const before = await snapshot();
    const [a, b] = await echoPods();
    const c = await connect('--never-proxy', `${a?.status?.podIP}/32`, '--also-proxy', '198.18.200.0/24');
    expect(c.code).toBe(0);
    expect(c.json['neverProxiedSubnets']).toEqual([`${a?.status?.podIP}/32`]);
    expect(c.json['routedSubnets']).toContain('198.18.200.0/24');
    expect((await curl(`http://${a?.status?.podIP}:8080`, 3)).code).not.toBe(0);
    expect((await curl(`http://${b?.status?.podIP}:8080`)).code).toBe(0);
    expect((await ws(['ip', 'route', 'get', '198.18.200.1'])).out).toMatch(/dev tel\d+/);
    expect((await tp('quit')).code).toBe(0);

    const dev = (await ws(['ip', '-o', 'link', 'show'])).out.match(/^\d+: (eth0|[^:@]+)@/m)?.[1] ?? 'eth0';
    await ws(['ip', 'route', 'add', '198.18.1.128/25', 'dev', dev]);
    try {
      const withRoute = await snapshot();
      const refused = await connect();
      expect(refused.code).toBe(1);
      const error = (refused.json['error'] as { message: string }).message;
      expect(error).toMatch(
        /^subnet 198\.18\.1\.0\/24 overlaps with existing route "198\.18\.1\.128\/25 dev /,
      );
      expect((await tp('quit')).code).toBe(0);
      expect(await snapshot()).toEqual(withRoute);
      const allowed = await connect('--allow-conflicting-subnets', '198.18.1.0/24');
      expect(allowed.code).toBe(0);
      expect((await tp('quit')).code).toBe(0);
    } finally {
      await ws(['ip', 'route', 'del', '198.18.1.128/25']);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('4: a new node changes the routed subnets while connected', async () => {
    expect((await connect()).code).toBe(0);
    await core.createNode({
      body: { metadata: { name: 'node-9' }, spec: { podCIDR: '198.18.9.0/24', podCIDRs: ['198.18.9.0/24'] } },
    });
    try {
      const routed = await until('198.18.9.0/24 routed', async () => {
        const s = await status();
        return s.routedSubnets.includes('198.18.9.0/24') ? s.routedSubnets : undefined;
      });
      expect(routed).toContain('198.18.1.0/24');
      expect((await ws(['ip', 'route', 'show', '198.18.9.0/24'])).out).toMatch(/dev tel\d+/);
    } finally {
      await core.deleteNode({ name: 'node-9' });
    }
    await until('198.18.9.0/24 no longer routed', async () =>
      (await status()).routedSubnets.includes('198.18.9.0/24') ? undefined : true,
    );
    expect((await tp('quit')).code).toBe(0);
  });

  it('5: kill -9 of the daemon, then quit, leaves the namespace exactly as before', async () => {
    const before = await snapshot();
    expect((await connect()).code).toBe(0);
    const state = JSON.parse(readFileSync(path.join(runDir, 'state.json'), 'utf8')) as { pid: number };
    process.kill(state.pid, 'SIGKILL');
    await until(
      'the DNS redirect removed',
      async () => ((await ws(['nft', 'list', 'tables'])).out.includes('telepresence_dns') ? undefined : true),
      10_000,
    );
    expect((await tp('quit')).code).toBe(0);
    expect(await snapshot()).toEqual(before);
  });

  it('6: the manager pod is killed: outage shown, other DNS works, the session comes back', async () => {
    expect((await connect()).code).toBe(0);
    const old = await managerPod();
    await core.deleteNamespacedPod({ namespace: 'ambassador', name: old.metadata?.name ?? '' });
    await until(
      'the outage in status',
      async () => ((await status()).outage !== '' ? true : undefined),
      30_000,
    );
    expect((await dig('+short', 'foo.example.test')).trim()).not.toBe('');
    const fresh = await until(
      'a new manager pod',
      async () => {
        const p = await managerPod();
        return p.metadata?.name !== old.metadata?.name ? p : undefined;
      },
      60_000,
    );
    await until('the session back', async () => ((await status()).outage === '' ? true : undefined), 60_000);
    const r = await until(
      'echo reachable again',
      async () => {
        const c = await curl('http://echo.default', 5);
        return c.code === 0 ? c : undefined;
      },
      30_000,
    );
    expect((JSON.parse(r.out) as { remoteAddress: string }).remoteAddress).toBe(fresh.status?.podIP);
    expect((await tp('quit')).code).toBe(0);
  });
});
