import { clusterDomainFromSearch, parseResolvConf, readResolvConf } from './resolv-conf.js';

describe('readResolvConf', () => {
  it('keeps nameservers in order, the last search/domain line as written, and ndots capped at 15', () => {
    const text = `# generated
nameserver 198.18.0.10 ; trailing comment
search a.svc.cluster.local. Cluster.Local
domain x.example
nameserver fe80::1%eth0
options timeout:1 ndots:20
bogus line`;
    expect(readResolvConf(text)).toEqual({
      nameservers: ['198.18.0.10', 'fe80::1%eth0'],
      search: ['x.example'],
      ndots: 15,
    });
  });

  it('defaults: no nameservers, no search, ndots 1', () => {
    expect(readResolvConf('')).toEqual({ nameservers: [], search: [], ndots: 1 });
  });
});

describe('parseResolvConf', () => {
  // The cases the client, the manager and the agent each tested for their own copy.
  it('reads nameservers in order (IPs only, zone dropped) and the search list', () => {
    const conf = parseResolvConf(`# generated
search default.svc.cluster.local svc.cluster.local
nameserver 198.19.255.1
nameserver fe80::1%eth0 ; second
options ndots:5
nameserver not-an-ip
`);
    expect(conf).toEqual({
      nameservers: ['198.19.255.1', 'fe80::1'],
      search: ['default.svc.cluster.local', 'svc.cluster.local'],
      ndots: 5,
    });
  });

  it("parses a pod's nameservers, search and ndots", () => {
    const text = `# pod resolv.conf
search ambassador.svc.cluster.local svc.cluster.local cluster.local example.test
nameserver 198.19.0.10
options ndots:5 timeout:1
`;
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['198.19.0.10'],
      search: ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'],
      ndots: 5,
    });
  });

  it('lowercases search entries and drops their dots at either end', () => {
    expect(parseResolvConf('search A.svc.Cluster.Local. .example.test .\n').search).toEqual([
      'a.svc.cluster.local',
      'example.test',
    ]);
  });

  it('defaults', () => expect(parseResolvConf('')).toEqual({ nameservers: [], search: [], ndots: 1 }));
});

describe('clusterDomainFromSearch', () => {
  it('finds the cluster domain from the kubelet-shaped search list', () => {
    const search = ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'];
    expect(clusterDomainFromSearch(search, 'ambassador')).toBe('cluster.local');
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
