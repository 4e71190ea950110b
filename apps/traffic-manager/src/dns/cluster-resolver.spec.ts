import type { Answer } from 'dns-packet';

import { DnsQueryError, lookupInCluster, type DnsBackend } from './cluster-resolver.js';
import { Qtype as QTYPE, Rcode as RCODE, decodeRecord, withNegativeCache } from '@telepresence/dns-core';
import type { SearchContext } from './search-context.js';

const ctx: SearchContext = {
  clientNamespace: 'team',
  clusterDomain: 'cluster.local',
  podSearch: [],
  ndots: 5,
};

/** A backend over a table: name -> records per type; a name present without the type is NODATA. */
function tableBackend(
  table: Record<string, Partial<Record<number, string[]>>>,
  asked: string[] = [],
): DnsBackend {
  return {
    query(fqdn, qtype) {
      asked.push(fqdn);
      const entry = table[fqdn];
      if (entry === undefined) return Promise.reject(new DnsQueryError('nxdomain', fqdn));
      const ips = entry[qtype];
      if (ips === undefined) return Promise.reject(new DnsQueryError('nodata', fqdn));
      return Promise.resolve(
        ips.map((data): Answer => ({
          name: fqdn,
          type: qtype === QTYPE.AAAA ? 'AAAA' : 'A',
          ttl: 4,
          class: 'IN',
          data,
        })),
      );
    },
  };
}

const table = {
  'echo.team.svc.cluster.local': { [QTYPE.A]: ['198.19.0.20'] },
  'echo.default.svc.cluster.local': { [QTYPE.A]: ['198.19.0.30'] },
};

describe('lookupInCluster', () => {
  it("resolves a single label in the client's namespace, named as asked", async () => {
    const r = await lookupInCluster({ name: 'echo.', type: QTYPE.A }, ctx, tableBackend(table));
    expect(r.result).toBe('noerror');
    expect(r.resolvedAs).toBe('echo.team.svc.cluster.local');
    const rr = decodeRecord(r.answer.records[0]!);
    expect(rr).toMatchObject({ name: 'echo', type: 'A', data: '198.19.0.20', ttl: 4 });
  });

  it('resolves name.namespace through svc.<domain>', async () => {
    const asked: string[] = [];
    const r = await lookupInCluster({ name: 'echo.default', type: QTYPE.A }, ctx, tableBackend(table, asked));
    expect(decodeRecord(r.answer.records[0]!)).toMatchObject({ name: 'echo.default', data: '198.19.0.30' });
    // Every candidate in one round (issue 18.4); the first in search order that has records answers.
    expect(asked).toEqual([
      'echo.default.team.svc.cluster.local',
      'echo.default.svc.cluster.local',
      'echo.default.cluster.local',
      'echo.default',
    ]);
  });

  it('NXDOMAIN only when every candidate is NXDOMAIN', async () => {
    const r = await lookupInCluster({ name: 'nope.', type: QTYPE.A }, ctx, tableBackend(table));
    expect(r.answer).toEqual({ rcode: RCODE.NXDOMAIN, records: [] });
  });

  it('NOERROR without records when the name exists without that type', async () => {
    const r = await lookupInCluster(
      { name: 'echo.team.svc.cluster.local.', type: QTYPE.AAAA },
      ctx,
      tableBackend(table),
    );
    expect(r).toMatchObject({ result: 'nodata', answer: { rcode: RCODE.NOERROR, records: [] } });
  });

  it('SERVFAIL when lookups fail and nothing was found', async () => {
    const failing: DnsBackend = { query: () => Promise.reject(new DnsQueryError('servfail', 'timeout')) };
    const r = await lookupInCluster({ name: 'echo.', type: QTYPE.A }, ctx, failing);
    expect(r.answer.rcode).toBe(RCODE.SERVFAIL);
  });

  it('answers SERVFAIL when the time budget ends before the candidates answer', async () => {
    const asked: string[] = [];
    const hanging: DnsBackend = {
      query: (fqdn) => {
        asked.push(fqdn);
        return new Promise(() => {});
      },
    };
    const budget = new AbortController();
    const pending = lookupInCluster({ name: 'echo.', type: QTYPE.A }, ctx, hanging, {
      signal: budget.signal,
    });
    budget.abort();
    const r = await pending;
    expect(r.answer.rcode).toBe(RCODE.SERVFAIL);
    // A slow resolver costs one timeout, not one per candidate: all were asked at once.
    expect(asked).toHaveLength(4);
  });

  it('NOTIMP for unsupported types', async () => {
    const r = await lookupInCluster({ name: 'echo.', type: 255 }, ctx, tableBackend(table));
    expect(r.answer.rcode).toBe(RCODE.NOTIMP);
  });
});

describe('relative names that do not exist (issue 18.4)', () => {
  it('cost one cluster query per search candidate for A and AAAA together, and none again soon after', async () => {
    const asked: string[] = [];
    const backend = withNegativeCache(tableBackend(table, asked));
    const both = () =>
      Promise.all([
        lookupInCluster({ name: 'nope', type: QTYPE.A }, ctx, backend),
        lookupInCluster({ name: 'nope', type: QTYPE.AAAA }, ctx, backend),
      ]);
    const [a, aaaa] = await both();
    expect([a.answer.rcode, aaaa.answer.rcode]).toEqual([RCODE.NXDOMAIN, RCODE.NXDOMAIN]);
    // Before: 4 candidates x 2 types, one after another = 8 queries in 4 rounds.
    expect(asked).toEqual([
      'nope.team.svc.cluster.local',
      'nope.svc.cluster.local',
      'nope.cluster.local',
      'nope',
    ]);
    await both();
    expect(asked).toHaveLength(4);
  });
});
