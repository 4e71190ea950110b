import { clusterDomainFromSearch, parseResolvConf } from './resolv-conf.js';

describe('resolv.conf', () => {
  const text = `# pod resolv.conf
search ambassador.svc.cluster.local svc.cluster.local cluster.local example.test
nameserver 198.19.0.10
options ndots:5 timeout:1
`;
  it('parses nameservers, search and ndots', () => {
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['198.19.0.10'],
      search: ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'],
      ndots: 5,
    });
  });

  it('finds the cluster domain from the kubelet-shaped search list', () => {
    expect(clusterDomainFromSearch(parseResolvConf(text).search, 'ambassador')).toBe('cluster.local');
    expect(
      clusterDomainFromSearch(
        ['ambassador.svc.corp.example', 'svc.corp.example', 'corp.example'],
        'ambassador',
      ),
    ).toBe('corp.example');
    expect(clusterDomainFromSearch(['example.test'], 'ambassador')).toBeUndefined();
    expect(clusterDomainFromSearch(['ambassador.svc.cluster.local'], 'ambassador')).toBeUndefined();
  });
});
