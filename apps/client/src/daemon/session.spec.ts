import type { daemon, manager } from '@telepresence/rpc';
import { mergeConfig } from '../config/config.js';
import { flagsLayer, pushedLayer } from './session.js';

const request: daemon.ConnectRequest = {
  namespace: '',
  managerNamespace: '',
  context: '',
  kubeconfig: '',
  managerAddress: '',
  alsoProxy: ['198.18.200.0/24'],
  neverProxy: [],
  allowConflictingSubnets: [],
  mappedNamespaces: ['a', 'b'],
  dnsIncludeSuffixes: [],
  dnsExcludeSuffixes: ['.internal'],
  dns: '198.19.255.9',
  configYaml: '',
  kubeconfigYaml: '',
  execPlugin: undefined,
};

const clusterInfo: manager.ClusterInfo = {
  serviceSubnet: { ip: Buffer.from([198, 19, 0, 0]), mask: 20 },
  podSubnets: [],
  managerPodIp: Buffer.from([198, 18, 1, 2]),
  managerPodPort: 8081,
  routing: {
    alsoProxySubnets: [],
    neverProxySubnets: [{ ip: Buffer.from([198, 18, 3, 0]), mask: 24 }],
    allowConflictingSubnets: [],
  },
  dns: { includeSuffixes: ['.pushed'], excludeSuffixes: ['.com'], clusterDomain: 'cluster.local.' },
  managerNamespace: 'ambassador',
};

describe('session config layers', () => {
  it('turns connect flags into the top layer', () => {
    expect(flagsLayer(request)).toEqual({
      routing: { alsoProxy: ['198.18.200.0/24'], neverProxy: [], allowConflicting: [] },
      dns: { upstream: '198.19.255.9', excludeSuffixes: ['.internal'] },
      cluster: { mappedNamespaces: ['a', 'b'] },
    });
  });

  it('rejects a bad CIDR flag naming the flag', () => {
    expect(() => flagsLayer({ ...request, neverProxy: ['198.18.0.0/40'] })).toThrow(
      /^--never-proxy 198.18.0.0\/40: /,
    );
  });

  it('reads the chart-pushed defaults from ClusterInfo', () => {
    expect(pushedLayer(clusterInfo)).toEqual({
      routing: { alsoProxy: [], neverProxy: ['198.18.3.0/24'], allowConflicting: [] },
      dns: { includeSuffixes: ['.pushed'], excludeSuffixes: ['.com'] },
    });
  });

  it('pushed < file < flags', () => {
    const merged = mergeConfig([
      pushedLayer(clusterInfo),
      { dns: { includeSuffixes: ['.file'] } },
      flagsLayer(request),
    ]);
    expect(merged.routing.neverProxy).toEqual(['198.18.3.0/24']);
    expect(merged.routing.alsoProxy).toEqual(['198.18.200.0/24']);
    expect(merged.dns.includeSuffixes).toEqual(['.file']);
    expect(merged.dns.excludeSuffixes).toEqual(['.internal']);
    expect(merged.dns.upstream).toBe('198.19.255.9');
  });
});
