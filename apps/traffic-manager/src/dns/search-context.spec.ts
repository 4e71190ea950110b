import { candidateNames, clientSearchList, type SearchContext } from './search-context.js';

const ctx: SearchContext = {
  clientNamespace: 'default',
  clusterDomain: 'cluster.local',
  podSearch: ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'example.test'],
  ndots: 5,
};

describe('client search context', () => {
  it("puts the client's namespace where the manager's was and keeps other entries", () => {
    expect(clientSearchList(ctx)).toEqual([
      'default.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'example.test',
    ]);
  });

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
    [
      'echo.default.',
      [
        'echo.default.default.svc.cluster.local',
        'echo.default.svc.cluster.local',
        'echo.default.cluster.local',
        'echo.default.example.test',
        'echo.default',
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
  ])('%s', (name, expected) => {
    expect(candidateNames(name, ctx)).toEqual(expected);
  });

  it('gives nothing for an empty name', () => expect(candidateNames('.', ctx)).toEqual([]));
});
