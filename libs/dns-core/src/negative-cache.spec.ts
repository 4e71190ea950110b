import type { Answer } from 'dns-packet';

import { lookupCandidates, type ExactLookup } from './cluster-lookup.js';
import { withNegativeCache } from './negative-cache.js';
import { Qtype, Rcode } from './types.js';

/** A cluster with the given names (A records only); counts every query; answers when released. */
function cluster(names: Record<string, string>) {
  const asked: string[] = [];
  const waiting: Array<() => void> = [];
  let held = false;
  const lookup: ExactLookup = {
    async query(fqdn, qtype) {
      asked.push(`${fqdn}/${qtype}`);
      if (held) await new Promise<void>((r) => waiting.push(r));
      const ip = names[fqdn];
      if (ip === undefined) throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
      if (qtype !== Qtype.A) throw Object.assign(new Error('nodata'), { code: 'ENODATA' });
      return [{ name: fqdn, type: 'A', ttl: 4, class: 'IN', data: ip } as Answer];
    },
  };
  return {
    lookup,
    asked,
    hold: () => (held = true),
    release: () => {
      held = false;
      waiting.splice(0).forEach((r) => r());
    },
  };
}

const candidates = (n: string) => [
  `${n}.team.svc.cluster.local`,
  `${n}.svc.cluster.local`,
  `${n}.cluster.local`,
  n,
];

describe('withNegativeCache', () => {
  it('keeps NXDOMAIN per name for every type, NODATA per name and type, until the TTL passes', async () => {
    let t = 0;
    const c = cluster({ 'echo.svc.cluster.local': '198.18.0.2' });
    const exact = withNegativeCache(c.lookup, { ttlMs: 2000, now: () => t });
    await expect(exact.query('nope.cluster.local', Qtype.A)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(exact.query('nope.cluster.local', Qtype.AAAA)).rejects.toMatchObject({ kind: 'nxdomain' });
    await expect(exact.query('echo.svc.cluster.local', Qtype.AAAA)).rejects.toMatchObject({
      code: 'ENODATA',
    });
    await expect(exact.query('echo.svc.cluster.local', Qtype.AAAA)).rejects.toMatchObject({ kind: 'nodata' });
    expect(await exact.query('echo.svc.cluster.local', Qtype.A)).toHaveLength(1);
    expect(c.asked).toEqual([
      'nope.cluster.local/1',
      'echo.svc.cluster.local/28',
      'echo.svc.cluster.local/1',
    ]);
    t = 2001; // a service created since then is found now
    await expect(exact.query('nope.cluster.local', Qtype.AAAA)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(c.asked).toHaveLength(4);
  });

  it('positive answers are not kept', async () => {
    const c = cluster({ 'echo.svc.cluster.local': '198.18.0.2' });
    const exact = withNegativeCache(c.lookup);
    await exact.query('echo.svc.cluster.local', Qtype.A);
    await exact.query('echo.svc.cluster.local', Qtype.A);
    expect(c.asked).toHaveLength(2);
  });

  it('flush() forgets, and the size is bounded', async () => {
    const c = cluster({});
    const exact = withNegativeCache(c.lookup, { maxEntries: 2 });
    for (const n of ['a', 'b', 'c']) await exact.query(n, Qtype.A).catch(() => {});
    expect(exact.size).toBe(2);
    exact.flush();
    expect(exact.size).toBe(0);
  });

  // Issue 18.4: a relative name that does not exist, asked for A and AAAA together (as getaddrinfo does).
  it('a missing relative name costs one query per search candidate for A and AAAA together, in one round', async () => {
    const c = cluster({});
    const exact = withNegativeCache(c.lookup);
    c.hold();
    const a = lookupCandidates({ name: 'nope', qtype: Qtype.A }, candidates('nope'), exact);
    const aaaa = lookupCandidates({ name: 'nope', qtype: Qtype.AAAA }, candidates('nope'), exact);
    await new Promise((r) => setImmediate(r));
    expect(c.asked).toHaveLength(4); // one round: every candidate asked before any answered
    c.release();
    expect((await a).rcode).toBe(Rcode.NXDOMAIN);
    expect((await aaaa).rcode).toBe(Rcode.NXDOMAIN);
    expect(c.asked).toHaveLength(4); // was 8 (4 per type, one after another)
    await lookupCandidates({ name: 'nope', qtype: Qtype.A }, candidates('nope'), exact);
    expect(c.asked).toHaveLength(4); // asked again within the TTL: no query
  });

  it('an existing name is still asked for its other type', async () => {
    const c = cluster({ 'echo.team.svc.cluster.local': '198.18.0.2' });
    const exact = withNegativeCache(c.lookup);
    const [a, aaaa] = await Promise.all([
      lookupCandidates({ name: 'echo', qtype: Qtype.A }, candidates('echo'), exact),
      lookupCandidates({ name: 'echo', qtype: Qtype.AAAA }, candidates('echo'), exact),
    ]);
    expect(a.resolvedAs).toBe('echo.team.svc.cluster.local');
    expect(aaaa.result).toBe('nodata');
    expect(c.asked.filter((x) => x.endsWith('/28'))).toEqual(['echo.team.svc.cluster.local/28']);
  });
});
