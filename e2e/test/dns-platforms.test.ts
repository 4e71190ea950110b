// Client DNS end to end on devcluster (as root), with the real telepresence CLI and daemon (apps/client/dist)
// and the traffic-manager from the chart:
// 1. a workstation running systemd-resolved (private D-Bus and mount namespace, see helpers/resolved-home.ts)
//    resolves cluster names through resolved's stub (getent, curl, Node's dns.lookup) and other names
//    through its normal upstream; resolvectl shows our link; quit reverts it;
// 2. without resolved the probe picks the overriding resolver and status says why;
// 3. a cluster whose DNS forwards unknown names back to the workstation (--recursive-dns): recursion is
//    detected, a nonexistent cluster name is NXDOMAIN well under a second, the cluster DNS sees no loop;
// 4. a cluster that routes unknown destinations back to the workstation: a connection to a nonexistent
//    IP:port fails once, promptly, and concurrent attempts share that outcome.
import { jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startResolvedHome, type ResolvedHome } from './helpers/resolved-home.js';
import {
  execAsync,
  plainWorkstation,
  startTpCluster,
  telepresence,
  until,
  type TpCluster,
  type Workstation,
} from './helpers/tp-cluster.js';
import { needs } from 'test-requirements';

const describeRoot = needs('root').describe;
const UPSTREAM_DNS = '198.19.255.1'; // devcluster's resolver on the workstation link
const SERVICE_IP = /^198\.19\.0\.\d+$/;

const getent = async (ws: Workstation, name: string): Promise<string> => {
  const r = await ws.exec('getent', ['hosts', name], 15_000);
  return r.code === 0 ? (r.stdout.split(/\s+/)[0] ?? '') : `exit ${r.code}`;
};

const nodeLookup = async (ws: Workstation, name: string): Promise<string> => {
  const script = "require('node:dns').lookup(process.argv[1],{family:4},(e,a)=>console.log(e?e.code:a))";
  return (await ws.exec(process.execPath, ['-e', script, name], 15_000)).stdout.trim();
};

describeRoot('client DNS on devcluster', () => {
  jest.setTimeout(300_000);

  describe('a workstation with systemd-resolved', () => {
    let tp: TpCluster;
    let home: ResolvedHome;
    let runDir: string;
    let cli: ReturnType<typeof telepresence>;

    beforeAll(async () => {
      tp = await startTpCluster();
      home = await startResolvedHome(tp.cluster.workstationNetns, UPSTREAM_DNS);
      runDir = mkdtempSync(path.join(tmpdir(), 'rs-run-'));
      cli = telepresence(home, runDir, tp.cluster.kubeconfig);
    });

    afterAll(async () => {
      await cli?.quit().catch(() => undefined);
      await home?.destroy();
      await tp?.down();
      if (runDir) rmSync(runDir, { recursive: true, force: true });
    });

    it('resolves cluster names through resolved, other names through the upstream, and reverts on quit', async () => {
      await cli.connect();
      const status = await cli.status();
      expect(status.dns?.mode).toBe('systemd-resolved');
      expect(status.dns?.probeReason).toMatch(/sanity check passed/);
      expect(await cli.statusText()).toMatch(/DNS chosen: +systemd-resolved: running, and it routes/);
      home.syncResolvConf(); // what the /etc/resolv.conf -> stub-resolv.conf symlink shows
      // The recursion check's query went through resolved (kube-system routed to us meanwhile).
      expect(
        await until('a recursion verdict', async () => {
          const r = (await cli.status()).dns?.recursionCheck;
          return r === 'detected' || r === 'not-detected' ? r : undefined;
        }),
      ).toBe('not-detected');

      const link = await home.resolvectl(['status', 'tel0']);
      for (const d of ['~cluster.local', '~default', '~svc', 'tel2-search']) expect(link).toContain(d);
      expect(link).toMatch(/DNS Servers?: 198\.1[89]\.\d+\.\d+/);

      const ip = await getent(home, 'echo.default.svc.cluster.local');
      expect(ip).toMatch(SERVICE_IP);
      expect(await getent(home, 'echo.default')).toBe(ip);
      expect(await getent(home, 'echo')).toBe(ip); // single label through the tel2-search search domain
      expect(await nodeLookup(home, 'echo.default.svc.cluster.local')).toBe(ip);
      const curl = await home.exec('curl', ['-sS', '--max-time', '10', 'http://echo.default/']);
      expect(JSON.parse(curl.stdout)).toMatchObject({
        namespace: 'default',
        headers: { host: 'echo.default' },
      });
      // Not the cluster's: through resolved's normal upstream.
      expect(await getent(home, 'www.example.test')).toBe(UPSTREAM_DNS);
      expect(await nodeLookup(home, 'www.example.test')).toBe(UPSTREAM_DNS);
      expect(await nodeLookup(home, 'missing.default')).toBe('ENOTFOUND');

      const quit = await cli.quit();
      expect(quit.code).toBe(0);
      home.syncResolvConf();
      const after = await home.resolvectl(['status']);
      expect(after).not.toContain('cluster.local');
      expect(after).not.toContain('tel2-search');
      expect(await getent(home, 'echo.default')).toBe('exit 2');
      expect(await getent(home, 'www.example.test')).toBe(UPSTREAM_DNS);
    });

    it('routes every namespace through resolved, following creations and deletions (issue 18)', async () => {
      await cli.connect();
      expect((await cli.status()).dns?.mode).toBe('systemd-resolved');
      expect(await home.resolvectl(['status', 'tel0'])).toContain('~ambassador');
      // A namespace and service made after connect: resolved routes the namespace to us without reconnecting.
      await tp.core.createNamespace({ body: { metadata: { name: 'team-r' } } });
      const svc = await tp.core.createNamespacedService({
        namespace: 'team-r',
        body: { metadata: { name: 'db' }, spec: { ports: [{ port: 5432 }] } },
      });
      await until('~team-r on the link', async () =>
        (await home.resolvectl(['status', 'tel0'])).includes('~team-r') ? true : undefined,
      );
      expect(await getent(home, 'db.team-r')).toBe(svc.spec?.clusterIP);
      await tp.core.deleteNamespace({ name: 'team-r' });
      await until('~team-r gone from the link', async () =>
        (await home.resolvectl(['status', 'tel0'])).includes('~team-r') ? undefined : true,
      );
      expect(await getent(home, 'db.team-r')).toBe('exit 2');
      expect((await cli.quit()).code).toBe(0);
    });

    it('picks the overriding resolver when resolved is not running, and status says so', async () => {
      await cli.quit(); // in case the test before failed half-way
      await home.stopResolved();
      try {
        await cli.connect();
        const status = await cli.status();
        expect(status.dns?.mode).toBe('overriding');
        expect(status.dns?.probeReason).toBe(
          'overriding resolver: systemd-resolved is not running (org.freedesktop.resolve1 has no owner on the system bus)',
        );
        expect(await cli.statusText()).toContain(
          'DNS chosen:        overriding resolver: systemd-resolved is not running',
        );
        expect(await getent(home, 'echo.default.svc.cluster.local')).toMatch(SERVICE_IP);
      } finally {
        await cli.quit();
        await home.startResolved();
      }
    });

    it('does not loop a connection to a nonexistent IP:port that the cluster routes back to the workstation', async () => {
      const ws = plainWorkstation(tp);
      const router = tp.cluster.routerNetns;
      // The "cluster" sends what it cannot route to the workstation, which forwards it into its VIF.
      await execAsync('ip', ['-n', router, 'route', 'replace', '198.18.200.0/24', 'via', '198.19.255.2']);
      // devcluster's router drops all forwarding between the cluster and the workstation (the workstation
      // has no route into the cluster); let this one subnet through, both ways.
      const proxyTable = `${tp.cluster.name}_proxy`;
      const link = `${tp.cluster.name}-ws`;
      for (const rule of [
        ['oifname', link, 'ip', 'daddr', '198.18.200.0/24', 'accept'],
        ['iifname', link, 'ip', 'saddr', '198.18.200.0/24', 'accept'],
      ]) {
        const r = await execAsync('ip', [
          'netns',
          'exec',
          router,
          'nft',
          'insert',
          'rule',
          'ip',
          proxyTable,
          'forward',
          ...rule,
        ]);
        if (r.code !== 0) throw new Error(`nft in the router: ${r.stderr}`);
      }
      for (const s of [
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ]) {
        await ws.exec('sysctl', ['-qw', s]);
      }
      // Counts what the workstation forwards into its VIF: proof that the cluster sent the attempt back.
      const fwd = `table ip rsfwd {\n chain forwarded {\n  type filter hook forward priority 0;\n  ip daddr 198.18.200.0/24 tcp flags syn counter\n }\n}\n`;
      await execAsync(
        'ip',
        ['netns', 'exec', tp.cluster.workstationNetns, 'nft', '-f', '-'],
        10_000,
        undefined,
        fwd,
      );
      const forwardedSyns = async (): Promise<number> => {
        const r = await ws.exec('nft', ['list', 'table', 'ip', 'rsfwd']);
        return Number(/counter packets (\d+)/.exec(r.stdout)?.[1] ?? 'NaN');
      };
      const wsCli = telepresence(ws, `${runDir}-plain`, tp.cluster.kubeconfig);
      try {
        await wsCli.connect(['--also-proxy', '198.18.200.0/24']);
        const attempt = async (): Promise<{ ms: number; code: number; err: string }> => {
          const started = Date.now();
          const r = await ws.exec('curl', ['-sS', '--max-time', '30', 'http://198.18.200.5:8080/'], 40_000);
          return { ms: Date.now() - started, code: r.code, err: r.stderr.trim() };
        };
        const single = await attempt();
        expect(single.code).not.toBe(0);
        const concurrent = await Promise.all([attempt(), attempt(), attempt(), attempt()]);
        for (const c of concurrent) expect(c.code).not.toBe(0);
        const before = (await wsCli.status()).counters;
        await new Promise((r) => setTimeout(r, 2000));
        const after = (await wsCli.status()).counters;
        expect(after).toEqual(before); // nothing keeps going round
        const syns = await forwardedSyns();
        console.log(`connect recursion: SYNs the cluster sent back into the VIF: ${syns}`);
        expect(syns).toBeGreaterThan(0); // the scenario is real: the cluster did route the attempts back
        expect(syns).toBeLessThan(30); // 5 attempts (+ SYN retransmits), not a loop
        const slowest = Math.max(single.ms, ...concurrent.map((c) => c.ms));
        console.log(
          `connect recursion: single attempt ${single.ms} ms (${single.err}); concurrent ${concurrent.map((c) => c.ms).join(', ')} ms`,
        );
        expect(slowest).toBeLessThan(1500); // the echo ends the pending dial at once, no dial timeout
      } finally {
        await wsCli.quit();
        await execAsync('ip', ['-n', router, 'route', 'del', '198.18.200.0/24']);
        await ws.exec('nft', ['delete', 'table', 'ip', 'rsfwd']);
        rmSync(`${runDir}-plain`, { recursive: true, force: true });
      }
    });
  });

  describe('a cluster whose DNS forwards unknown names to the workstation (--recursive-dns)', () => {
    let tp: TpCluster;
    let runDir: string;
    let ws: Workstation;
    let cli: ReturnType<typeof telepresence>;
    let managerPod: string;
    const table = `rsq${Math.random().toString(36).slice(2, 6)}`;

    beforeAll(async () => {
      tp = await startTpCluster({ recursiveDns: true });
      runDir = mkdtempSync(path.join(tmpdir(), 'rs-run-'));
      ws = plainWorkstation(tp);
      cli = telepresence(ws, runDir, tp.cluster.kubeconfig);
      const pods = await tp.core.listNamespacedPod({ namespace: 'ambassador' });
      managerPod = pods.items[0]?.metadata?.name ?? '';
      // Counts the DNS queries the manager's pod sends to the cluster DNS.
      const nft = `table ip ${table} {\n chain out {\n  type filter hook output priority 0;\n  udp dport 53 counter\n  tcp dport 53 counter\n }\n}\n`;
      const r = await tp.cluster.exec(`pod/ambassador/${managerPod}`, ['nft', '-f', '-'], { input: nft });
      if (r.code !== 0) throw new Error(`nft in the manager pod: ${r.stderr}`);
    });

    afterAll(async () => {
      await cli?.quit().catch(() => undefined);
      await tp?.down();
      if (runDir) rmSync(runDir, { recursive: true, force: true });
    });

    const clusterDnsQueries = async (): Promise<number> => {
      const r = await tp.cluster.exec(`pod/ambassador/${managerPod}`, ['nft', 'list', 'table', 'ip', table]);
      return [...r.stdout.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    };

    it('detects the recursion, answers a nonexistent name NXDOMAIN fast without a loop, and resolves normal names', async () => {
      await cli.connect();
      const state = await until(
        'a recursion verdict',
        async () => {
          const s = (await cli.status()).dns?.recursionCheck;
          return s === 'detected' || s === 'not-detected' ? s : undefined;
        },
        30_000,
      );
      expect(state).toBe('detected');
      expect(await cli.statusText()).toMatch(/Recursion check: +detected/);

      const before = await clusterDnsQueries();
      const started = Date.now();
      const dig = await ws.exec('dig', ['+time=5', '+tries=1', 'nonexistent-name.default']);
      const ms = Date.now() - started;
      expect(dig.stdout).toContain('status: NXDOMAIN');
      const during = (await clusterDnsQueries()) - before;
      await new Promise((r) => setTimeout(r, 2000));
      const after = (await clusterDnsQueries()) - before;
      console.log(
        `recursive DNS: NXDOMAIN in ${ms} ms; cluster DNS queries from the manager: ${during} (2 s later: ${after})`,
      );
      expect(ms).toBeLessThan(1000);
      expect(after).toBe(during); // nothing keeps going round
      expect(after).toBeLessThan(20);

      expect(await getent(ws, 'echo.default.svc.cluster.local')).toMatch(SERVICE_IP);
      expect(await getent(ws, 'echo.default')).toMatch(SERVICE_IP);
      expect(await getent(ws, 'www.example.test')).toBe(UPSTREAM_DNS);
    });
  });
});
