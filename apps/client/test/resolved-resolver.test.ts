// The systemd-resolved hook against a real systemd-resolved (extracted from Debian's package) with a private
// D-Bus, in namespaces of our own (see helpers/resolved-ns.ts). DNS for the VIF's DNS address travels
// through a real TUN and libs/netstack to our dns-core server, with a test ClusterResolver. Checked with
// the tools applications use: getent (glibc -> resolved's stub), curl, Node's dns.lookup, dig over TCP.
import { jest } from '@jest/globals';
import { readFile as readFileBytes } from 'node:fs/promises';
import {
  openDnsServer,
  Rcode,
  type ClusterResolver,
  type DnsRoutingConfig,
  type DnsServer,
} from '@telepresence/dns-core';
import { Netstack, TunDevice, linkConfig, type FlowHandler, type FlowId } from '@telepresence/netstack';
import { checkDnsRecursion } from '../src/dns/recursion-check.js';
import { osDomains } from '../src/dns/os-domains.js';
import { openResolverHook, type OsResolverHook, type VifDns } from '../src/dns/os-resolver.js';
import { VifDnsForwarder } from '../src/dns/vif-dns-forwarder.js';
import { CommandError, type Run } from '../src/util/exec.js';
import {
  startResolvedWorkstation,
  UPSTREAM_ANSWER,
  UPSTREAM_IP,
  type ResolvedWorkstation,
} from './helpers/resolved-ns.js';
import { needs } from 'test-requirements';

const readFile = (file: string): Promise<string> => readFileBytes(file, 'utf8');
const describeRoot = needs('root').describe;

const DNS_IP = '198.18.252.2';
const CLUSTER_ANSWER = UPSTREAM_IP; // where the HTTP server is, so curl can reach a "cluster" name

const config0: DnsRoutingConfig = {
  clusterDomain: 'cluster.local',
  connectedNamespace: 'default',
  mappedNamespaces: ['default', 'team'],
};

describeRoot('systemd-resolved hook (root, namespaces, private D-Bus)', () => {
  jest.setTimeout(120_000);
  let env: ResolvedWorkstation;
  let tun: TunDevice;
  let stack: Netstack;
  let ifindex: number;
  let forwarder = new VifDnsForwarder({ dnsAddress: DNS_IP });
  const clusterQuestions: string[] = [];
  /** Set by the recursion test: the "cluster" forwards what it does not know to the workstation. */
  let recursiveCluster = false;

  const cluster: ClusterResolver = {
    async resolve(q) {
      clusterQuestions.push(q.name);
      if (recursiveCluster && q.name.startsWith('tel2-recursion-check')) {
        await env.exec('getent', ['ahostsv4', q.name], 5000);
        return { rcode: Rcode.NXDOMAIN, answers: [] };
      }
      if (q.name.startsWith('missing') || q.name.startsWith('tel2-recursion-check')) {
        return { rcode: Rcode.NXDOMAIN, answers: [] };
      }
      if (q.type !== 'A') return { rcode: Rcode.NOERROR, answers: [] };
      return { rcode: Rcode.NOERROR, answers: [{ type: 'A', name: q.name, ttl: 4, data: CLUSTER_ANSWER }] };
    },
  };

  // Commands that would change the machine (the overriding fallback's nft) run inside the workstation.
  const runInWs: Run = (cmd, args, options) =>
    env.exec(cmd, args, options?.timeoutMs, options?.input).then((r) => {
      if (r.code !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`, r.stderr, r.code);
      return r.stdout;
    });

  const lookupInWs = async (name: string): Promise<string[]> => {
    const r = await env.exec('getent', ['ahostsv4', name], 10_000);
    return [
      ...new Set(
        r.stdout
          .split('\n')
          .map((l) => l.split(/\s+/)[0] ?? '')
          .filter((a) => a !== ''),
      ),
    ];
  };
  const http = async (url: string): Promise<string> => {
    const r = await env.exec('curl', ['-sS', '--max-time', '10', url]);
    return r.stdout.trim().replace('::ffff:', '');
  };
  const getent = async (name: string): Promise<string> => {
    const r = await env.exec('getent', ['hosts', name], 10_000);
    return r.code === 0 ? (r.stdout.split(/\s+/)[0] ?? '') : `exit ${r.code}`;
  };

  const vif = (): VifDns => ({
    name: tun.name,
    ifindex,
    dnsAddress: DNS_IP,
    serveDnsAt: (address, port) => forwarder.serveDnsAt(address, port),
  });

  const open = (lines: string[], overrides: { systemBusAddress?: string } = {}): Promise<OsResolverHook> =>
    openResolverHook(
      {
        platform: 'linux',
        upstream: '',
        resolvConfPath: env.resolvConfPath,
        beforeChange: async () => {},
        vif: vif(),
        domains: osDomains(config0),
        log: (line) => lines.push(line),
        systemBusAddress: overrides.systemBusAddress ?? env.busAddress,
        lookup: lookupInWs,
      },
      { run: runInWs },
    );

  beforeAll(async () => {
    env = await startResolvedWorkstation();
    tun = TunDevice.open({ name: `${env.prefix.replace('-', '')}t` });
    await linkConfig.moveToNetns({ link: tun.name }, env.ws);
    const target = { link: tun.name, netns: env.ws };
    await linkConfig.setMtu(target, 1500);
    await linkConfig.addAddress(target, '198.18.252.1/30');
    await linkConfig.setUp(target);
    const handler: FlowHandler = {
      onTcpConnect: (id: FlowId) =>
        forwarder.matches(id) ? forwarder.acceptTcp(id) : Promise.reject(new Error('not DNS')),
      onUdpFlow: (id: FlowId) =>
        forwarder.matches(id) ? forwarder.acceptUdp(id) : Promise.reject(new Error('not DNS')),
    };
    stack = new Netstack(tun, handler, { mtu: 1500 });
    stack.start();
    const link = JSON.parse((await env.exec('ip', ['-j', 'link', 'show', 'dev', tun.name])).stdout) as Array<{
      ifindex: number;
    }>;
    ifindex = link[0]?.ifindex ?? 0;
  });

  afterAll(async () => {
    forwarder.close();
    stack?.close();
    await env?.destroy();
  });

  describe('with resolved routing our link', () => {
    let hook: OsResolverHook;
    let server: DnsServer;
    const lines: string[] = [];
    let config = config0;

    beforeAll(async () => {
      hook = await open(lines);
      server = await openDnsServer({ address: hook.listenAddress, config, cluster, fallback: hook.fallback });
      await hook.install(server.address.port);
      env.syncResolvConf();
    });

    afterAll(async () => {
      await hook?.remove();
      await server?.close();
    });

    it('picks systemd-resolved and says why in one line', () => {
      expect(hook.mode).toBe('systemd-resolved');
      expect(hook.reason).toMatch(/sanity check passed/);
      expect(lines).toEqual([expect.stringMatching(/^dns: systemd-resolved: running, and it routes/)]);
    });

    it('shows our link DNS server and domains in resolvectl', async () => {
      const status = await env.resolvectl(['status', tun.name]);
      expect(status).toContain(DNS_IP);
      for (const d of ['~cluster.local', '~default', '~team', '~svc', 'tel2-search'])
        expect(status).toContain(d);
    });

    it('resolves cluster names through the stub with getent, and other names through the upstream', async () => {
      expect(await getent('echo.default.svc.cluster.local')).toBe(CLUSTER_ANSWER);
      expect(await getent('echo.team')).toBe(CLUSTER_ANSWER);
      expect(await getent('echo')).toBe(CLUSTER_ANSWER); // single label, via the tel2-search search domain
      expect(await env.resolvectl(['query', '--legend=no', 'echo'])).toContain(CLUSTER_ANSWER); // resolved's own search
      expect(clusterQuestions).toEqual(
        expect.arrayContaining(['echo.default.svc.cluster.local', 'echo.team', 'echo']),
      );
      expect(await getent('www.example.test')).toBe(UPSTREAM_ANSWER);
      expect(clusterQuestions).not.toContain('www.example.test');
      expect(await getent('missing.default.svc.cluster.local')).toBe('exit 2'); // NXDOMAIN
    });

    it('serves curl and Node dns.lookup', async () => {
      expect(await http('http://echo.default.svc.cluster.local:8080/')).toBe(
        `echo.default.svc.cluster.local:8080 via ${CLUSTER_ANSWER}`,
      );
      expect(await http('http://www.example.test:8080/')).toBe(
        `www.example.test:8080 via ${UPSTREAM_ANSWER}`,
      );
      const script =
        "const dns=require('node:dns');const n=process.argv[1];dns.lookup(n,{family:4},(e,a)=>console.log(e?e.code:a))";
      for (const [name, want] of [
        ['echo.team.svc.cluster.local', CLUSTER_ANSWER],
        ['www.example.test', UPSTREAM_ANSWER],
        ['missing.team', 'ENOTFOUND'],
      ] as const) {
        const r = await env.exec(process.execPath, ['-e', script, name]);
        expect(`${name} ${r.stdout.trim()}`).toBe(`${name} ${want}`);
      }
    });

    it('carries DNS over TCP through the TUN too', async () => {
      const r = await env.exec('dig', [
        '+tcp',
        '+short',
        '+time=3',
        '+tries=1',
        `@${DNS_IP}`,
        'echo.default.svc.cluster.local',
      ]);
      expect(r.stdout.trim()).toBe(CLUSTER_ANSWER);
    });

    it('follows configuration changes: new domains in resolved, flushed caches', async () => {
      expect(await getent('db.corp.example')).toBe(UPSTREAM_ANSWER); // not ours yet
      expect(server.cacheSize).toBeGreaterThan(0);
      config = {
        ...config0,
        mappedNamespaces: ['default', 'team', 'extra'],
        includeSuffixes: ['corp.example'],
      };
      server.updateConfig(config);
      await hook.setDomains?.(osDomains(config));
      expect(server.cacheSize).toBe(0);
      const status = await env.resolvectl(['domain', tun.name]);
      expect(status).toContain('~extra');
      expect(status).toContain('~corp.example');
      expect(await getent('echo.extra')).toBe(CLUSTER_ANSWER);
      expect(await getent('db.corp.example')).toBe(CLUSTER_ANSWER);
    });

    it('runs the recursion check through the OS path: not detected on a normal cluster', async () => {
      const state = await checkDnsRecursion({
        server,
        hook,
        config: () => config,
        probe: lookupInWs,
        intervalMs: 300,
      });
      expect(state).toBe('not-detected');
      expect(await env.resolvectl(['domain', tun.name])).not.toContain('kube-system'); // routed only during the check
    });

    it('detects recursion when the cluster forwards unknown names back to the workstation', async () => {
      server.resetRecursionCheck();
      recursiveCluster = true;
      try {
        const state = await checkDnsRecursion({
          server,
          hook,
          config: () => config,
          probe: lookupInWs,
          intervalMs: 300,
        });
        expect(state).toBe('detected');
      } finally {
        recursiveCluster = false;
      }
    });

    it('reverts the link on quit', async () => {
      await hook.remove();
      const status = await env.resolvectl(['status', tun.name]);
      expect(status).not.toContain(DNS_IP);
      expect(status).not.toContain('cluster.local');
      env.syncResolvConf();
      expect(await readFile(env.resolvConfPath)).not.toContain('tel2-search');
      // Names of our domains go to the normal upstream again (.local ones nowhere: resolved keeps those
      // for mDNS, which is off here).
      expect(await getent('echo.team')).toBe(UPSTREAM_ANSWER);
      expect(await getent('echo.default.svc.cluster.local')).toBe('exit 2');
    });
  });

  it('falls back to the overriding resolver when resolved does not route our names (sanity check)', async () => {
    forwarder = new VifDnsForwarder({ dnsAddress: DNS_IP }); // never told where the server is: DNS fails
    const lines: string[] = [];
    const hook = await open(lines);
    try {
      // The overriding resolver's nft redirect goes into the workstation namespace (runInWs).
      await hook.install(53_999);
      expect(hook.mode).toBe('overriding');
      expect(hook.reason).toMatch(
        /^overriding resolver: systemd-resolved is running but does not route our names/,
      );
      expect(lines.at(-1)).toBe(`dns: ${hook.reason}`);
      expect((await env.exec('nft', ['list', 'tables'])).stdout).toContain('telepresence_dns');
      expect(await env.resolvectl(['status', tun.name])).not.toContain(DNS_IP);
    } finally {
      await hook.remove();
    }
    expect((await env.exec('nft', ['list', 'tables'])).stdout).not.toContain('telepresence_dns');
  });

  it('picks the overriding resolver when resolved is not running, and says so', async () => {
    await env.stopResolved();
    try {
      const lines: string[] = [];
      const hook = await open(lines);
      expect(hook.mode).toBe('overriding');
      expect(hook.reason).toBe(
        'overriding resolver: systemd-resolved is not running (org.freedesktop.resolve1 has no owner on the system bus)',
      );
      expect(lines).toEqual([`dns: ${hook.reason}`]);
      await hook.remove();
      const started = Date.now();
      const noBus = await open([], { systemBusAddress: `unix:path=/nonexistent/${env.prefix}/bus` });
      expect(Date.now() - started).toBeLessThan(1000); // no waiting for a call timeout
      expect(noBus.mode).toBe('overriding');
      expect(noBus.reason).toMatch(/^overriding resolver: no system D-Bus/);
      await noBus.remove();
    } finally {
      await env.startResolved();
    }
  });
});
