import type { daemon } from '@telepresence/rpc';
import { TpError } from '../util/errors.js';
import type { statusJson } from './output.js';
import { errorFromDaemon, formatConnected, formatError, formatStatus, parseOutputFormat } from './output.js';

const connected: daemon.StatusResponse = {
  connected: true,
  sessionId: 'session-1',
  managerVersion: '0.1.0',
  namespace: 'default',
  managerNamespace: 'ambassador',
  routedSubnets: ['198.18.1.0/24', '198.19.0.0/20'],
  neverProxiedSubnets: ['198.18.1.5/32'],
  dns: {
    mode: 'overriding',
    localAddress: '127.0.0.1:40053',
    upstream: '198.19.255.1',
    includeSuffixes: [],
    excludeSuffixes: ['.com'],
    mappedNamespaces: [],
    clusterDomain: 'cluster.local',
    recursion: { dns: 'not-detected' },
    probeReason: '',
    mappedNamespacesReason: '',
  },
  counters: { flowsOpen: 1, flowsTotal: 5, bytesOut: 100, bytesIn: 2000, dnsQueries: 7, dnsCacheHits: 3 },
  outage: '',
  logFile: '/run/telepresence/daemon.log',
  tunName: 'tel0',
  intercepts: [],
  credentials: undefined,
  pushedConfig: undefined,
};

describe('CLI output', () => {
  it('prints a human status with every section', () => {
    expect(formatStatus(connected, 'human')).toBe(`Connected
  Session:           session-1
  Namespace:         default
  Traffic-manager:   0.1.0 in namespace ambassador
  Network interface: tel0
  Routed subnets:    198.18.1.0/24, 198.19.0.0/20
  Never proxied:     198.18.1.5/32
  DNS:               overriding resolver on 127.0.0.1:40053, other names to 198.19.255.1
  Cluster domain:    cluster.local
  Mapped namespaces: (none)
  Recursion check:   not-detected
  Flows:             1 open, 5 total, 100 bytes out, 2000 bytes in
  DNS queries:       7 (3 from cache)
  Intercepts:        (none)
  Daemon log:        /run/telepresence/daemon.log`);
  });

  const intercepts: daemon.InterceptLine[] = [
    {
      name: 'echo',
      workload: 'echo',
      namespace: 'default',
      servicePort: 'http',
      localPort: 8080,
      localOnly: false,
      state: 'ACTIVE',
      message: '',
    },
    {
      name: 'db',
      workload: 'db',
      namespace: 'default',
      servicePort: '',
      localPort: 5432,
      localOnly: false,
      state: 'RE-CREATING',
      message: 'the traffic-manager lost it',
    },
    {
      name: 'lo',
      workload: 'web',
      namespace: 'default',
      servicePort: '',
      localPort: 9000,
      localOnly: true,
      state: 'ACTIVE',
      message: '',
    },
  ];

  it('lists intercepts in the human status: name, namespace/workload, ports, state and why', () => {
    const text = formatStatus({ ...connected, intercepts }, 'human').split('\n');
    expect(text.slice(text.indexOf('  Intercepts:        3'), -1)).toEqual([
      '  Intercepts:        3',
      '    echo: default/echo, port http -> 127.0.0.1:8080, ACTIVE',
      '    db: default/db, service port -> 127.0.0.1:5432, RE-CREATING (the traffic-manager lost it)',
      '    lo: default/web, local-only, nothing redirected, ACTIVE',
    ]);
  });

  it('lists intercepts and the mapped namespaces with why in the JSON status', () => {
    const json = JSON.parse(
      formatStatus(
        {
          ...connected,
          intercepts,
          dns: {
            ...connected.dns!,
            mappedNamespaces: ['a', 'b'],
            mappedNamespacesReason: 'from --mapped-namespaces',
          },
        },
        'json',
      ),
    ) as ReturnType<typeof statusJson>;
    expect(json.intercepts).toEqual(intercepts);
    expect(json.dns).toMatchObject({
      mappedNamespaces: ['a', 'b'],
      mappedNamespacesReason: 'from --mapped-namespaces',
    });
    expect(
      formatStatus(
        { ...connected, dns: { ...connected.dns!, mappedNamespaces: ['a'], mappedNamespacesReason: 'why' } },
        'human',
      ),
    ).toContain('  Mapped namespaces: a (why)');
  });

  it('shows where the credential comes from, its refresh, and a refresh problem', () => {
    const exec = {
      source: 'exec plugin',
      expiresAt: '2026-01-01T10:00:00.000Z',
      nextRefresh: '2026-01-01T09:48:00.000Z',
      refreshes: 2,
      problem: '',
    };
    expect(formatStatus({ ...connected, credentials: exec }, 'human')).toContain(
      '  Credentials:       exec plugin, expires 2026-01-01T10:00:00.000Z, refreshed next 2026-01-01T09:48:00.000Z, 2 refreshes so far\n',
    );
    const failing = { ...exec, nextRefresh: '', problem: 'refreshing it failed: exit 1' };
    expect(formatStatus({ ...connected, credentials: failing }, 'human')).toMatch(
      /Credentials: +exec plugin, expires .*, PROBLEM: refreshing it failed: exit 1/,
    );
    expect(JSON.parse(formatStatus({ ...connected, credentials: failing }, 'json')).credentials).toEqual(
      failing,
    );
    const stat = { source: 'kubeconfig', expiresAt: '', nextRefresh: '', refreshes: 0, problem: '' };
    expect(formatStatus({ ...connected, credentials: stat }, 'human')).toContain(
      '  Credentials:       kubeconfig\n',
    );
  });

  it('shows an outage on the first line', () => {
    expect(
      formatStatus({ ...connected, outage: 'traffic-manager unreachable: EOF' }, 'human').split('\n')[0],
    ).toBe('Connected, with an outage: traffic-manager unreachable: EOF');
  });

  it('prints JSON for scripts', () => {
    const json = JSON.parse(formatStatus(connected, 'json')) as ReturnType<typeof statusJson>;
    expect(json.connected).toBe(true);
    expect(json.routedSubnets).toEqual(['198.18.1.0/24', '198.19.0.0/20']);
    expect(json.dns?.recursionCheck).toBe('not-detected');
    expect(json.logFile).toBe('/run/telepresence/daemon.log');
  });

  it('prints "Not connected" and the log when there is one', () => {
    expect(formatStatus({ ...connected, connected: false, logFile: '' }, 'human')).toBe('Not connected');
    expect(JSON.parse(formatStatus({ ...connected, connected: false, logFile: '' }, 'json'))).toEqual({
      connected: false,
      logFile: '',
    });
  });

  it('summarises a connect', () => {
    expect(formatConnected(connected, 'human')).toContain(
      'Connected to namespace default (session session-1)',
    );
  });

  it.each([
    [
      new TpError('config', 'subnet 198.18.0.0/16 overlaps with existing route "x"', {
        hint: 'use --allow-conflicting-subnets',
      }),
      'telepresence connect: subnet 198.18.0.0/16 overlaps with existing route "x"; use --allow-conflicting-subnets',
    ],
    [new TpError('internal', 'boom'), 'telepresence connect: boom (details in /log)'],
    [new TpError('user', 'no hint'), 'telepresence connect: no hint'],
  ])('formats errors as one line: %s', (err, want) => {
    expect(formatError('connect', err, '/log', 'human')).toBe(want);
  });

  it('formats errors as JSON', () => {
    expect(
      JSON.parse(formatError('connect', new TpError('cluster', 'm', { hint: 'h' }), '/log', 'json')),
    ).toEqual({
      error: { category: 'cluster', message: 'm', hint: 'h' },
    });
  });

  it('carries errors from the daemon with their category and hint', () => {
    const err = errorFromDaemon('config\tbad thing\tdo this');
    expect([err.category, err.message, err.hint]).toEqual(['config', 'bad thing', 'do this']);
    expect(errorFromDaemon('plain').category).toBe('internal');
  });

  it('parses --output', () => {
    expect(parseOutputFormat(undefined)).toBe('human');
    expect(parseOutputFormat('json')).toBe('json');
    expect(() => parseOutputFormat('yaml')).toThrow('unknown output format "yaml"');
  });
});
