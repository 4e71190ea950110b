// Brief negative caching in front of an ExactLookup (issue 18.4): a relative name that does not exist
// costs one query per search candidate, and the A and AAAA questions a stub resolver sends together would
// each pay it. NXDOMAIN is a fact about a name, not a type (RFC 2308), so it is kept per name and answers
// every type; NODATA is kept per name and type. A question that arrives while another type of the same
// name is being asked waits for that answer, and asks itself only when the name exists. Entries live
// `ttlMs` (2 s): a service created in the cluster resolves at most that long after the cluster's DNS
// has it, the same bound as the client's own NXDOMAIN cache. Positive answers are not kept here.
import type { Answer } from 'dns-packet';

import { LookupError, lookupFailureOf, type ExactLookup } from './cluster-lookup.js';

/** How long NXDOMAIN and NODATA answers from the cluster are kept by default. */
export const NEGATIVE_TTL_MS = 2_000;

export interface NegativeCacheOptions {
  /** Default NEGATIVE_TTL_MS; 0 keeps nothing (in-flight sharing still applies). */
  readonly ttlMs?: number;
  /** Entries kept at most (oldest dropped first). Default 10000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export interface NegativeCachingLookup extends ExactLookup {
  /** Forgets every kept answer. */
  flush(): void;
  /** Kept answers (for metrics and tests). */
  readonly size: number;
}

export function withNegativeCache(
  exact: ExactLookup,
  options: NegativeCacheOptions = {},
): NegativeCachingLookup {
  const ttlMs = options.ttlMs ?? NEGATIVE_TTL_MS;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  // "fqdn" -> NXDOMAIN until; "fqdn qtype" -> NODATA until. A space never occurs in a DNS name we ask.
  const kept = new Map<string, number>();
  // fqdn -> resolves true when the first question in flight for that name found it does not exist.
  const inFlight = new Map<string, Promise<boolean>>();

  const fresh = (key: string): boolean => {
    const until = kept.get(key);
    if (until === undefined) return false;
    if (until > now()) return true;
    kept.delete(key);
    return false;
  };
  const keep = (key: string): void => {
    if (ttlMs <= 0) return;
    kept.delete(key);
    kept.set(key, now() + ttlMs);
    while (kept.size > maxEntries) kept.delete(kept.keys().next().value as string);
  };
  const noSuchName = (fqdn: string) => new LookupError('nxdomain', `${fqdn}: no such name`);

  return {
    async query(fqdn: string, qtype: number): Promise<Answer[]> {
      if (fresh(fqdn)) throw noSuchName(fqdn);
      if (fresh(`${fqdn} ${qtype}`)) throw new LookupError('nodata', `${fqdn}: no records of that type`);
      const first = inFlight.get(fqdn);
      if (first !== undefined && (await first)) throw noSuchName(fqdn);
      const asking = exact.query(fqdn, qtype);
      if (first === undefined) {
        const probe = asking.then(
          () => false,
          (e: unknown) => lookupFailureOf(e) === 'nxdomain',
        );
        inFlight.set(fqdn, probe);
        void probe.then(() => {
          if (inFlight.get(fqdn) === probe) inFlight.delete(fqdn);
        });
      }
      try {
        const records = await asking;
        if (records.length === 0) keep(`${fqdn} ${qtype}`);
        return records;
      } catch (e) {
        const kind = lookupFailureOf(e);
        if (kind === 'nxdomain') keep(fqdn);
        else if (kind === 'nodata') keep(`${fqdn} ${qtype}`);
        throw e;
      }
    },
    flush() {
      kept.clear();
    },
    get size() {
      return kept.size;
    },
  };
}
