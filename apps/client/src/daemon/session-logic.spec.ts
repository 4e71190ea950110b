// The session's logic on in-memory parts (no root): the order of the connect steps, routes following
// ClusterInfo, outages, and what quit and a failed connect leave behind.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { daemon, manager } from '@telepresence/rpc';
import { parseCidr } from '@telepresence/subnets';
import { FakeManagerApi, UNAVAILABLE, until } from '../testing/fake-manager-api.js';
import { MemoryMachine } from '../testing/memory-tun.js';
import { Session } from './session.js';
import type { SessionDns, SessionSystem } from './session-system.js';
import { readState, StateFile } from './state-file.js';

const request: daemon.ConnectRequest = {
  namespace: 'ns1',
  managerNamespace: '',
  context: '',
  kubeconfig: '',
  managerAddress: '',
  alsoProxy: [],
  neverProxy: [],
  allowConflictingSubnets: [],
  mappedNamespaces: [],
  dnsIncludeSuffixes: [],
  dnsExcludeSuffixes: [],
  dns: '',
  kubeconfigYaml: '',
  execPlugin: undefined,
  configYaml: '',
};

const net = (a: number, b: number, c: number, mask: number) => ({ ip: Buffer.from([a, b, c, 0]), mask });

function clusterInfo(podSubnets = [net(198, 18, 64, 18)]): manager.ClusterInfo {
  return {
    serviceSubnet: net(198, 18, 128, 20),
    podSubnets,
    managerPodIp: Buffer.from([198, 18, 64, 2]),
    managerPodPort: 8081,
    managerNamespace: 'ambassador',
    routing: { alsoProxySubnets: [], neverProxySubnets: [], allowConflictingSubnets: [] },
    dns: { includeSuffixes: [], excludeSuffixes: [], clusterDomain: 'cluster.local.' },
  };
}

interface Rig {
  readonly calls: string[];
  /** Each dialManager: the address, and whether tunnels run on the port-forward's own streams. */
  readonly managerDials: string[];
  readonly api: FakeManagerApi;
  readonly machine: MemoryMachine;
  readonly system: SessionSystem;
  readonly state: StateFile;
  readonly stateFile: string;
  failDns?: Error;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'session-logic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rig(): Rig {
  const calls: string[] = [];
  const api = new FakeManagerApi(calls);
  api.clusterInfo = clusterInfo();
  const machine = new MemoryMachine();
  machine.log.push = (...lines: string[]) => calls.push(...lines); // one timeline
  const stateFile = path.join(dir, 'state.json');
  const managerDials: string[] = [];
  const r: Rig = {
    calls,
    managerDials,
    api,
    machine,
    stateFile,
    state: new StateFile(stateFile, 4242),
    system: {
      loadKube: async (o) => {
        calls.push('kubeconfig');
        return {
          config: {} as KubeConfig,
          context: 'test',
          namespace: o.namespace || 'default',
          server: 'https://127.0.0.1:6443',
          apiServerIps: ['127.0.0.1'],
        };
      },
      openManagerForward: async () => {
        calls.push('forward open');
        return {
          address: '127.0.0.1:1',
          dial: () => {
            throw new Error('the fake manager API makes no connections');
          },
          pod: () => undefined,
          close: async () => void calls.push('forward close'),
        };
      },
      resolveManagerHost: async () => ['127.0.0.1'],
      managerToken: async () => ({ source: 'user', current: () => 'token', close: () => undefined }),
      refreshCredentials: () => {
        throw new Error('no exec plugin in these tests');
      },
      managerTls: async () => {
        throw new Error('no TLS in these tests');
      },
      namespaceSource: () => ({
        list: async () => ({ names: ['default'], resourceVersion: '1' }),
        // Ends only when the session stops it.
        watch: (_rv, _onEvent, signal) =>
          new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
      }),
      dialManager: (address, options) => {
        managerDials.push(`${address}${options.tunnelConnection ? ', tunnels on port-forward streams' : ''}`);
        return api;
      },
      openTun: machine.openTun,
      routeTable: machine.routeTable,
      startDns: async (o) => {
        calls.push(`dns start ${o.routing.clusterDomain}`);
        if (r.failDns) throw r.failDns;
        const dns: SessionDns = {
          status: () => ({
            mode: 'test',
            localAddress: '',
            upstream: '',
            includeSuffixes: [],
            excludeSuffixes: [],
            mappedNamespaces: [],
            clusterDomain: 'cluster.local',
            recursion: 'not-yet',
            probeReason: '',
            queries: 0,
            cacheHits: 0,
          }),
          updateRouting: () => void calls.push('dns routing'),
          flush: () => undefined,
          close: async () => void calls.push('dns close'),
        } as unknown as SessionDns;
        return dns;
      },
      startDialResponder: () => {
        calls.push('dial responder start');
        return {
          stats: { requests: 0, dialed: 0, rejected: 0 },
          stop: () => void calls.push('dial responder stop'),
        };
      },
    },
  };
  return r;
}

const log = pino({ level: 'silent' }, { write: () => undefined });

function connect(r: Rig, req = request, progress: string[] = []): Promise<Session> {
  return Session.connect(
    {
      log,
      run: async () => '',
      state: r.state,
      logFile: 'daemon.log',
      platform: 'darwin',
      system: r.system,
      random: () => 0.5,
    },
    req,
    {},
    (step) => progress.push(step),
  );
}

describe('Session on in-memory parts', () => {
  it('connects in order: kubeconfig, manager, session, cluster info, routes, VIF, DNS', async () => {
    const r = rig();
    const progress: string[] = [];
    const s = await connect(r, request, progress);
    expect(progress).toEqual([
      'Reading kubeconfig',
      'Connecting to the traffic-manager in namespace ambassador',
      'Creating session',
      'Waiting for cluster info',
      'Computing routes',
      'Creating the network interface',
      'Configuring DNS',
    ]);
    expect(r.calls).toEqual([
      'kubeconfig',
      'forward open',
      'waitForReady',
      'connectTunnels',
      'version',
      'arrive ns1',
      'dial responder start',
      'watch s1',
      'open tel0',
      'up tel0',
      'route add 198.18.64.0/18 tel0',
      'route add 198.18.128.0/20 tel0',
      'dns start cluster.local',
    ]);
    expect(r.managerDials).toEqual(['127.0.0.1:1, tunnels on port-forward streams']);
    const status = s.status();
    expect(status).toMatchObject({
      connected: true,
      sessionId: 's1',
      managerVersion: '9.9.9',
      namespace: 'ns1',
      tunName: 'tel0',
      routedSubnets: ['198.18.64.0/18', '198.18.128.0/20'],
      outage: '',
      credentials: { source: 'kubeconfig', refreshes: 0, problem: '' },
    });
    // The chart's client values, for config view, with where they came from.
    expect(status.pushedConfig?.origin).toBe(
      'cluster: traffic-manager 9.9.9 in namespace ambassador, chart values client:',
    );
    expect(JSON.parse(status.pushedConfig?.layerJson ?? '')).toEqual({
      routing: { alsoProxy: [], neverProxy: [], allowConflicting: [] },
      dns: {},
    });
    expect((await readState(r.stateFile))?.routes).toEqual([
      '198.18.64.0/18 dev tel0',
      '198.18.128.0/20 dev tel0',
    ]);
    await s.close();
  });

  it('routes follow ClusterInfo changes; a later conflict is left out and shown', async () => {
    const r = rig();
    const s = await connect(r);
    const watch = r.api.openWatches[0];
    watch?.push(clusterInfo([net(198, 18, 64, 18), net(198, 18, 32, 19)]));
    await until(() => r.calls.includes('dns routing'));
    expect(r.machine.routesOf('tel0')).toEqual(['198.18.128.0/20', '198.18.32.0/19', '198.18.64.0/18']);

    watch?.push(clusterInfo([net(198, 18, 32, 19)]));
    await until(() => r.machine.routesOf('tel0').length === 2);
    expect(r.machine.routesOf('tel0')).toEqual(['198.18.128.0/20', '198.18.32.0/19']);
    expect(s.status().routedSubnets).toEqual(['198.18.32.0/19', '198.18.128.0/20']);
    expect((await readState(r.stateFile))?.routes).toEqual([
      '198.18.32.0/19 dev tel0',
      '198.18.128.0/20 dev tel0',
    ]);

    r.machine.existing.push({
      cidr: parseCidr('198.18.96.0/24'),
      interface: 'eth9',
      text: '198.18.96.0/24 dev eth9',
    });
    watch?.push(clusterInfo([net(198, 18, 32, 19), net(198, 18, 96, 19)]));
    await until(() => s.status().outage !== '');
    expect(s.status().outage).toMatch(
      /^not routed: subnet 198\.18\.96\.0\/19 overlaps with existing route "198\.18\.96\.0\/24 dev eth9"/,
    );
    expect(r.machine.routesOf('tel0')).toEqual(['198.18.128.0/20', '198.18.32.0/19']);
    await s.close();
  });

  it('stays connected through a manager outage: status shows it, the watch comes back, routes stay', async () => {
    const r = rig();
    r.api.clusterInfo = undefined;
    const connecting = connect(r);
    (await r.api.watchOpened(1)).push(clusterInfo());
    const s = await connecting;
    r.api.openWatches[0]?.fail(UNAVAILABLE());
    await until(() => s.status().outage !== '');
    expect(s.status().outage).toBe('traffic-manager unreachable: connection refused');
    expect(r.machine.routesOf('tel0')).toEqual(['198.18.128.0/20', '198.18.64.0/18']);

    const again = await r.api.watchOpened(2);
    again.push(clusterInfo([net(198, 18, 32, 19)]));
    await until(() => s.status().outage === '' && r.machine.routesOf('tel0').length === 2);
    expect(r.machine.routesOf('tel0')).toEqual(['198.18.128.0/20', '198.18.32.0/19']);
    expect(s.status().sessionId).toBe('s1');
    await s.close();
  });

  it('quits in order: stop watching, DNS, depart, VIF, port-forward, manager connection', async () => {
    const r = rig();
    const s = await connect(r);
    r.calls.length = 0;
    await s.close();
    expect(r.calls).toEqual([
      'watch s1 cancelled',
      'dial responder stop',
      'dns close',
      'depart s1',
      'close tel0',
      'forward close',
      'api close',
    ]);
    expect(r.machine.links.size).toBe(0);
    expect(r.machine.routes).toEqual([]);
    await s.close(); // idempotent
    expect(r.calls).toHaveLength(7);
  });

  const undo = [
    'watch s1 cancelled',
    'dial responder stop',
    'depart s1',
    'close tel0',
    'forward close',
    'api close',
  ];
  it.each([
    ['a route', (r: Rig) => void (r.machine.failNext = 'route add 198.18.128.0/20'), undo],
    ['DNS', (r: Rig) => void (r.failDns = new Error('dns: no upstream')), undo],
    // Vif.open undoes its own steps before the session undoes the rest.
    [
      'the TUN',
      (r: Rig) => void (r.machine.failNext = 'up tel0'),
      ['close tel0', 'watch s1 cancelled', 'dial responder stop', 'depart s1', 'forward close', 'api close'],
    ],
  ])('a failure at %s mid-connect leaves nothing behind', async (_what, breakIt, undone) => {
    const r = rig();
    breakIt(r);
    await expect(connect(r)).rejects.toThrow(/failed|no upstream/);
    expect(r.machine.links.size).toBe(0);
    expect(r.machine.routes).toEqual([]);
    expect(r.calls.slice(-undone.length)).toEqual(undone);
  });

  it('a route conflict at connect fails before the TUN exists and departs', async () => {
    const r = rig();
    r.machine.existing.push({
      cidr: parseCidr('198.18.129.0/24'),
      interface: 'eth9',
      text: '198.18.129.0/24 dev eth9',
    });
    await expect(connect(r)).rejects.toThrow(
      /subnet 198\.18\.128\.0\/20 overlaps with existing route "198\.18\.129\.0\/24 dev eth9"/,
    );
    expect(r.calls.some((c) => c.startsWith('open tel'))).toBe(false);
    expect(r.calls.slice(-5)).toEqual([
      'watch s1 cancelled',
      'dial responder stop',
      'depart s1',
      'forward close',
      'api close',
    ]);
  });

  it('a manager that cannot be reached fails the connect and closes the port-forward', async () => {
    const r = rig();
    r.api.failNext.set('waitForReady', new Error('Failed to connect before the deadline'));
    await expect(connect(r)).rejects.toThrow(
      'cannot reach the traffic-manager at 127.0.0.1:1: Failed to connect before the deadline',
    );
    expect(r.calls).toEqual(['kubeconfig', 'forward open', 'waitForReady', 'forward close', 'api close']);
  });
});
