// The routing rule table driven end to end: which names reach the cluster when asked through dig and
// through Node's resolver (no fallback configured, so everything else is NXDOMAIN from us).
import { promises as dnsPromises } from 'node:dns';
import { openDnsServer } from '../src/server.js';
import type { DnsServer } from '../src/server.js';
import { TableCluster, dig } from './helpers.js';

const cases: Array<[query: string, clusterName: string | undefined]> = [
  ['wpad.default', undefined],
  ['echo.default', undefined], // excluded name "echo" with a search suffix
  ['bad.host', undefined], // excluded name
  ['foo.tel2-search', 'foo'], // single label via the marker, stripped
  ['a.example', undefined], // exclude suffix
  ['x.inc.example', 'x.inc.example'], // longer include suffix wins over the exclude suffix
  ['x.org', 'x.org'], // include as long as the exclude re-includes
  ['foo.default', 'foo.default'], // search entry (connected namespace)
  ['foo.ns1', 'foo.ns1'], // mapped namespace
  ['foo.xns1', undefined], // not on a label boundary
  ['foo.blocked', undefined], // namespace that is an exclude suffix
  ['foo.svc', 'foo.svc'], // svc
  ['a.b.svc.cluster.local', 'a.b.svc.cluster.local'], // cluster domain
  ['foo.mycluster.local', undefined], // not on a label boundary
  ['example.com', undefined], // no rule
];

let server: DnsServer;
const cluster = new TableCluster(
  cases
    .filter(([, c]) => c !== undefined)
    .map(([, c]) => ({ type: 'A' as const, name: c!, data: '198.19.0.1' })),
);
beforeAll(async () => {
  server = await openDnsServer({
    address: '127.0.0.1',
    cluster,
    config: {
      clusterDomain: 'cluster.local',
      connectedNamespace: 'default',
      mappedNamespaces: ['ns1', 'blocked'],
      includeSuffixes: ['.inc.example', 'org'],
      excludeSuffixes: ['.example', '.org', 'blocked'],
      excludes: ['echo', 'bad.host'],
    },
    negativeCacheTtlMs: 0,
    cacheTtlMs: 1, // every query reaches the router
  });
});
afterAll(() => server.close());

describe.each(['dig', 'node'])('rule table through %s', (client) => {
  it.each(cases)('%s -> cluster asked for %s', async (query, clusterName) => {
    cluster.calls = [];
    if (client === 'dig') {
      const r = await dig(server.address.port, query);
      expect(r.status).toBe(clusterName ? 'NOERROR' : 'NXDOMAIN');
    } else {
      const resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([`127.0.0.1:${server.address.port}`]);
      if (clusterName) expect(await resolver.resolve4(query)).toEqual(['198.19.0.1']);
      else await expect(resolver.resolve4(query)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    }
    expect(cluster.calls).toEqual(clusterName ? [{ name: clusterName, type: 'A' }] : []);
  });
});

it('a flush while a lookup is in flight keeps its (possibly stale) answer out of the cache', async () => {
  const slow = new TableCluster([{ type: 'A', name: 'slow.svc', data: '198.19.0.2' }]);
  slow.delayMs = 100;
  await using s = await openDnsServer({
    address: '127.0.0.1',
    cluster: slow,
    config: { clusterDomain: 'cluster.local' },
  });
  const resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${s.address.port}`]);
  const first = resolver.resolve4('slow.svc');
  await new Promise((r) => setTimeout(r, 30));
  s.flush();
  await first;
  expect(s.cacheSize).toBe(0);
  await resolver.resolve4('slow.svc');
  expect(slow.calls).toHaveLength(2);
  expect(s.cacheSize).toBe(1);
});
