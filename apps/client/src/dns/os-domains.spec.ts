import { osDomains, sameDomains } from './os-domains.js';

describe('osDomains', () => {
  it.each([
    [
      'cluster domain, namespaces, svc, connected namespace',
      {
        clusterDomain: 'cluster.local.',
        connectedNamespace: 'Default',
        mappedNamespaces: ['team', 'default'],
      },
      [],
      ['cluster.local', 'default', 'svc', 'team'],
    ],
    [
      'include suffixes (dots trimmed), a namespace excluded as a suffix',
      {
        clusterDomain: 'cluster.local',
        mappedNamespaces: ['team', 'org'],
        includeSuffixes: ['.corp.example'],
        excludeSuffixes: ['org'],
      },
      [],
      ['cluster.local', 'corp.example', 'svc', 'team'],
    ],
    [
      'extra routes (recursion check)',
      { clusterDomain: 'cluster.local' },
      ['kube-system.'],
      ['cluster.local', 'kube-system', 'svc'],
    ],
  ])('%s', (_what, config, extra, routes) => {
    expect(osDomains(config, extra)).toEqual({ routes, search: ['tel2-search'] });
  });

  it('compares domain sets', () => {
    const a = osDomains({ clusterDomain: 'cluster.local', mappedNamespaces: ['a'] });
    expect(sameDomains(a, osDomains({ clusterDomain: 'cluster.local', mappedNamespaces: ['A'] }))).toBe(true);
    expect(sameDomains(a, osDomains({ clusterDomain: 'cluster.local', mappedNamespaces: ['b'] }))).toBe(
      false,
    );
    expect(sameDomains(undefined, a)).toBe(false);
  });
});
