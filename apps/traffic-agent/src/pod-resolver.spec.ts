import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';

import {
  candidateNames,
  lookupInPod,
  parseHosts,
  parseResolvConf,
  type ExactLookup,
} from './pod-resolver.js';

const podConf = parseResolvConf(
  [
    'nameserver 198.19.0.10',
    'search team-a.svc.cluster.local svc.cluster.local cluster.local',
    'options ndots:5 # comment',
  ].join('\n'),
);

const decode = (b: Uint8Array) =>
  (dnsPacket as unknown as { answer: { decode(b: Buffer): Answer } }).answer.decode(Buffer.from(b));

function fake(table: Record<string, string[] | 'nodata' | 'fail'>): ExactLookup & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    query(fqdn) {
      asked.push(fqdn);
      const v = table[fqdn];
      if (v === undefined) return Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }));
      if (v === 'nodata') return Promise.reject(Object.assign(new Error('nodata'), { code: 'ENODATA' }));
      if (v === 'fail') return Promise.reject(Object.assign(new Error('t/o'), { code: 'ETIMEOUT' }));
      return Promise.resolve(
        v.map((data) => ({ name: fqdn, type: 'A', ttl: 4, class: 'IN', data }) as Answer),
      );
    },
  };
}

describe('parseResolvConf', () => {
  it('reads nameservers, search and ndots', () => {
    expect(podConf).toEqual({
      nameservers: ['198.19.0.10'],
      search: ['team-a.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ndots: 5,
    });
    expect(parseResolvConf('')).toEqual({ nameservers: [], search: [], ndots: 1 });
  });
});

describe('candidateNames', () => {
  it('tries the search list first for short names (a single label means the pod namespace)', () => {
    expect(candidateNames('echo', podConf)).toEqual([
      'echo.team-a.svc.cluster.local',
      'echo.svc.cluster.local',
      'echo.cluster.local',
      'echo',
    ]);
  });
  it('tries a name with enough dots as is first', () => {
    const conf = { ...podConf, ndots: 1 };
    expect(candidateNames('echo.team-b', conf)[0]).toBe('echo.team-b');
  });
});

describe('lookupInPod', () => {
  it('answers with the records named as asked, short TTL', async () => {
    const exact = fake({ 'echo.team-a.svc.cluster.local': ['198.19.0.33'] });
    const a = await lookupInPod({ name: 'echo.', type: 1 }, podConf, exact);
    expect(a.rcode).toBe(0);
    expect(a.records.map(decode)).toEqual([
      expect.objectContaining({ name: 'echo', type: 'A', ttl: 4, data: '198.19.0.33' }),
    ]);
    // Every candidate in one round (issue 18.4); the first in search order that has records answers.
    expect(exact.asked).toEqual([
      'echo.team-a.svc.cluster.local',
      'echo.svc.cluster.local',
      'echo.cluster.local',
      'echo',
    ]);
  });
  it('prefers an earlier candidate over a later one that answers first', async () => {
    const exact = fake({ 'echo.svc.cluster.local': ['198.19.0.2'], echo: ['198.51.100.1'] });
    const a = await lookupInPod({ name: 'echo', type: 1 }, podConf, exact);
    expect(a.records.map(decode)).toEqual([expect.objectContaining({ data: '198.19.0.2' })]);
  });
  it('tries a name in the cluster domain only as it is', () => {
    const conf = { ...podConf, clusterDomain: 'cluster.local' };
    expect(candidateNames('echo.team-b.svc.cluster.local.', conf)).toEqual(['echo.team-b.svc.cluster.local']);
  });
  it('NXDOMAIN only when every candidate is', async () => {
    expect((await lookupInPod({ name: 'nope', type: 1 }, podConf, fake({}))).rcode).toBe(3);
  });
  it('NOERROR without records when a name exists without that type', async () => {
    const a = await lookupInPod(
      { name: 'echo', type: 28 },
      podConf,
      fake({ 'echo.cluster.local': 'nodata' }),
    );
    expect(a).toEqual({ rcode: 0, records: [] });
  });
  it('SERVFAIL when lookups failed and nothing was found', async () => {
    const a = await lookupInPod(
      { name: 'echo', type: 1 },
      podConf,
      fake({ 'echo.svc.cluster.local': 'fail' }),
    );
    expect(a.rcode).toBe(2);
  });

  it("answers from the pod's hosts file first (hostAliases, its own hostname)", async () => {
    const hosts = parseHosts(
      '127.0.0.1 localhost\n198.18.1.5\techo-abc\n198.18.9.9 db db.alias # comment\n2001:db8::9 db\n',
    );
    const exact = fake({ 'db.team-a.svc.cluster.local': ['198.19.0.99'] });
    const a = await lookupInPod({ name: 'db.', type: 1 }, podConf, exact, hosts);
    expect(a.records.map(decode)).toEqual([expect.objectContaining({ name: 'db', data: '198.18.9.9' })]);
    const aaaa = await lookupInPod({ name: 'db', type: 28 }, podConf, exact, hosts);
    expect(aaaa.records.map(decode)).toEqual([
      expect.objectContaining({ type: 'AAAA', data: '2001:db8::9' }),
    ]);
    expect(exact.asked).toEqual([]);
    expect((await lookupInPod({ name: 'echo-abc', type: 1 }, podConf, exact, hosts)).rcode).toBe(0);
  });
});
