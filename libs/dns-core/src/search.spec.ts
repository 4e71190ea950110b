import { searchCandidates } from './search.js';

const list = {
  search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'],
  ndots: 5,
  clusterDomain: 'cluster.local',
};

describe('searchCandidates', () => {
  it.each([
    [
      'echo',
      [
        'echo.default.svc.cluster.local',
        'echo.svc.cluster.local',
        'echo.cluster.local',
        'echo.example.test',
        'echo',
      ],
    ],
    ['echo.default.svc.cluster.local.', ['echo.default.svc.cluster.local']],
    ['ECHO.Default.SVC.cluster.local', ['echo.default.svc.cluster.local']],
    ['5.1.18.198.in-addr.arpa.', ['5.1.18.198.in-addr.arpa']],
    [
      'a.b.c.d.e.f',
      [
        'a.b.c.d.e.f',
        'a.b.c.d.e.f.default.svc.cluster.local',
        'a.b.c.d.e.f.svc.cluster.local',
        'a.b.c.d.e.f.cluster.local',
        'a.b.c.d.e.f.example.test',
      ],
    ],
  ])('%s', (name, expected) => expect(searchCandidates(name, list)).toEqual(expected));

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
