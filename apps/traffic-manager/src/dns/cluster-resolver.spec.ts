import type { Answer } from 'dns-packet';

import { DnsQueryError, lookupInCluster, type DnsBackend } from './cluster-resolver.js';
import { QTYPE, RCODE, decodeRecord } from './records.js';
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
    expect(asked).toEqual(['echo.default.team.svc.cluster.local', 'echo.default.svc.cluster.local']);
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

  it('stops trying candidates when the time budget is spent', async () => {
    let t = 0;
    const asked: string[] = [];
    const slow: DnsBackend = {
      query: (fqdn) => {
        asked.push(fqdn);
        t += 1000;
        return Promise.reject(new DnsQueryError('servfail', 'timeout'));
      },
    };
    const r = await lookupInCluster({ name: 'echo.', type: QTYPE.A }, ctx, slow, {
      budgetMs: 1500,
      now: () => t,
    });
    expect(r.answer.rcode).toBe(RCODE.SERVFAIL);
    expect(asked).toHaveLength(2);
  });

  it('NOTIMP for unsupported types', async () => {
    const r = await lookupInCluster({ name: 'echo.', type: 255 }, ctx, tableBackend(table));
    expect(r.answer.rcode).toBe(RCODE.NOTIMP);
  });
});
