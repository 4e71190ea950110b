import type { Answer } from 'dns-packet';

import { LookupError, lookupCandidates, lookupFailureOf, type ExactLookup } from './cluster-lookup.js';
import { Qtype, Rcode } from './types.js';

type Entry = string[] | 'nodata' | 'fail' | 'notimp' | 'hang';

/** Exact lookups over a table; a name not in it is NXDOMAIN (node:dns's ENOTFOUND). */
function table(entries: Record<string, Entry>): ExactLookup & { asked: string[] } {
  const asked: string[] = [];
  const err = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));
  return {
    asked,
    query(fqdn) {
      asked.push(fqdn);
      const v = entries[fqdn];
      if (v === undefined) return err('ENOTFOUND');
      if (v === 'nodata') return err('ENODATA');
      if (v === 'fail') return err('ETIMEOUT');
      if (v === 'notimp') return err('ENOTIMP');
      if (v === 'hang') return new Promise(() => {});
      return Promise.resolve(
        v.map((data): Answer => ({ name: fqdn, type: 'A', ttl: 30, class: 'IN', data })),
      );
    },
  };
}

const q = { name: 'Echo.', qtype: Qtype.A };
const candidates = ['echo.a.svc', 'echo.svc', 'echo'];

describe('lookupCandidates', () => {
  it('asks every candidate in one round and answers from the first in order, named as asked, TTL 4', async () => {
    const exact = table({ 'echo.svc': ['198.18.0.2'], echo: ['198.18.0.3'] });
    const r = await lookupCandidates(q, candidates, exact);
    expect(exact.asked).toEqual(candidates);
    expect(r).toEqual({
      rcode: Rcode.NOERROR,
      result: 'noerror',
      resolvedAs: 'echo.svc',
      answers: [{ name: 'Echo', type: 'A', ttl: 4, class: 'IN', data: '198.18.0.2' }],
    });
  });

  it('NXDOMAIN only when every candidate is NXDOMAIN', async () => {
    expect(await lookupCandidates(q, candidates, table({}))).toMatchObject({
      rcode: Rcode.NXDOMAIN,
      result: 'nxdomain',
    });
  });

  it('NODATA beats a failure; a failure beats NXDOMAIN', async () => {
    const nodata = await lookupCandidates(q, candidates, table({ echo: 'nodata', 'echo.svc': 'fail' }));
    expect(nodata).toMatchObject({ rcode: Rcode.NOERROR, result: 'nodata', answers: [] });
    const failed = await lookupCandidates(q, candidates, table({ 'echo.svc': 'fail' }));
    expect(failed).toMatchObject({ rcode: Rcode.SERVFAIL, result: 'servfail' });
  });

  it('NOTIMP when the resolver cannot ask that type', async () => {
    const r = await lookupCandidates(q, candidates, table({ 'echo.a.svc': 'notimp' }));
    expect(r.rcode).toBe(Rcode.NOTIMP);
  });

  it('an abort ends the wait: unanswered candidates count as failed', async () => {
    const ac = new AbortController();
    const pending = lookupCandidates(
      q,
      candidates,
      table({ 'echo.a.svc': 'nodata', 'echo.svc': 'hang' }),
      ac.signal,
    );
    await new Promise((r) => setImmediate(r)); // the first candidate has answered, the second hangs
    ac.abort();
    expect(await pending).toMatchObject({ rcode: Rcode.NOERROR, result: 'nodata' });
    const already = await lookupCandidates(
      q,
      candidates,
      table({ 'echo.a.svc': 'hang' }),
      AbortSignal.abort(),
    );
    expect(already.result).toBe('servfail');
  });
});

describe('lookupFailureOf', () => {
  it("reads node:dns's codes and LookupError's kind", () => {
    expect(lookupFailureOf(Object.assign(new Error(), { code: 'ENOTFOUND' }))).toBe('nxdomain');
    expect(lookupFailureOf(Object.assign(new Error(), { code: 'ENODATA' }))).toBe('nodata');
    expect(lookupFailureOf(Object.assign(new Error(), { code: 'ECONNREFUSED' }))).toBe('servfail');
    expect(lookupFailureOf(new LookupError('notimp', 'x'))).toBe('notimp');
    expect(lookupFailureOf(undefined)).toBe('servfail');
  });
});
