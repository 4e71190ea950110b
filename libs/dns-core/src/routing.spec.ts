import { decideRoute, explainRoute, normalizeDnsConfig, stripDropSuffixes } from './routing.js';
import type { RouteRule } from './routing.js';

const config = normalizeDnsConfig({
  clusterDomain: 'cluster.local.',
  connectedNamespace: 'default',
  mappedNamespaces: ['ns1', 'blocked'],
  includeSuffixes: ['.inc.example', 'org'],
  excludeSuffixes: ['.example', '.org', 'blocked'],
  excludes: ['echo', 'bad.host'],
});

describe('decideRoute (reference 4.3, on label boundaries)', () => {
  const cases: Array<[string, boolean, RouteRule, string | undefined]> = [
    ['wpad', false, 'wpad', undefined],
    ['wpad.default', false, 'wpad', undefined],
    ['echo', false, 'exclude', 'echo'],
    ['echo.default', false, 'exclude', 'echo'],
    ['echo.tel2-search', false, 'exclude', 'echo'],
    ['bad.host', false, 'exclude', 'bad.host'],
    ['foo', true, 'single-label', undefined],
    ['a.example', false, 'exclude-suffix', 'example'],
    ['x.inc.example', true, 'include-suffix', 'inc.example'],
    ['x.org', true, 'include-suffix', 'org'], // include as long as the exclude re-includes
    ['foo.default', true, 'search-path', 'default'],
    ['foo.ns1', true, 'namespace', 'ns1'],
    ['foo.xns1', false, 'no-rule', undefined], // the original matched "ns1" here
    ['foo.blocked', false, 'exclude-suffix', 'blocked'], // an excluded namespace is no route
    ['foo.svc', true, 'svc', 'svc'],
    ['echo.default.svc.cluster.local', true, 'cluster-domain', 'cluster.local'],
    ['a.b.svc.cluster.local', true, 'cluster-domain', 'cluster.local'],
    ['cluster.local', true, 'cluster-domain', 'cluster.local'],
    ['foo.mycluster.local', false, 'no-rule', undefined], // not a label boundary
    ['example.com', false, 'no-rule', undefined],
    ['tel2-recursion-check.kube-system', true, 'recursion-check', undefined],
    ['tel2-recursion-check-0a1b2c3d.kube-system.svc.cluster.local', true, 'recursion-check', undefined],
  ];
  it.each(cases)('%s -> cluster=%s by %s', (name, toCluster, rule, match) => {
    const d = decideRoute(config, name);
    expect({ toCluster: d.toCluster, rule: d.rule, match: d.match }).toEqual({ toCluster, rule, match });
  });

  it('explains every decision in one line with its reason', () => {
    expect(explainRoute(decideRoute(config, 'x.inc.example'))).toBe(
      'cluster DNS included for name "x.inc.example": ends with include suffix "inc.example"',
    );
    expect(explainRoute(decideRoute(config, 'example.com'))).toBe(
      'cluster DNS excluded for name "example.com": no inclusion rule matched',
    );
    for (const [name] of cases) expect(explainRoute(decideRoute(config, name))).not.toContain('\n');
  });
});

describe('normalizeDnsConfig', () => {
  it('rejects bad input with a message naming it', () => {
    expect(() => normalizeDnsConfig({ clusterDomain: '' })).toThrow(/clusterDomain is empty/);
    expect(() => normalizeDnsConfig({ clusterDomain: 'c.l', includeSuffixes: ['a b'] })).toThrow(
      /includeSuffixes entry "a b"/,
    );
  });
  it('always routes svc and searches tel2-search first', () => {
    const c = normalizeDnsConfig({
      clusterDomain: 'c.l',
      connectedNamespace: 'Team',
      searchPath: ['corp.lan'],
    });
    expect(c.routes).toEqual(['svc']);
    expect(c.search).toEqual(['tel2-search', 'team', 'corp.lan']);
  });
});

describe('stripDropSuffixes', () => {
  const c = normalizeDnsConfig({ clusterDomain: 'c.l', dropSuffixes: ['corp.lan'] });
  it.each([
    ['foo.tel2-search', 'foo'],
    ['a.b.tel2-search', 'a.b'],
    ['tel2-search', 'tel2-search'],
    ['foo.xtel2-search', 'foo.xtel2-search'],
    ['a.corp.lan', 'a'],
  ])('%s -> %s', (name, want) => expect(stripDropSuffixes(c, name)).toBe(want));
});
