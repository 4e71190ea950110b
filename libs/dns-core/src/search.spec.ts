import { searchCandidates } from './search.js';

const list = {
  search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'],
  ndots: 5,
  clusterDomain: 'cluster.local',
};

describe('searchCandidates', () => {
  // The search order itself is specified by the manager's search-context.spec.ts and the agent's
  // pod-resolver.spec.ts, which use this function.
  it('tries names in the cluster domain and reverse names only as they are', () => {
    expect(searchCandidates('ECHO.Default.SVC.cluster.local.', list)).toEqual([
      'echo.default.svc.cluster.local',
    ]);
    expect(searchCandidates('5.1.18.198.in-addr.arpa', list)).toEqual(['5.1.18.198.in-addr.arpa']);
  });

  it('without a known cluster domain, searches every name short of ndots', () => {
    const { clusterDomain: _, ...noDomain } = list;
    expect(searchCandidates('echo.default.svc.cluster.local', noDomain)[0]).toBe(
      'echo.default.svc.cluster.local.default.svc.cluster.local',
    );
  });

  it('asks each name once', () =>
    expect(searchCandidates('echo', { search: ['a', 'a'], ndots: 1 })).toEqual(['echo.a', 'echo']));

  it('gives nothing for an empty name', () => expect(searchCandidates('.', list)).toEqual([]));
});
