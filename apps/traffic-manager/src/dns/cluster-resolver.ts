// Manager-side DNS lookups: node:dns (c-ares) against the pod's resolvers, with the client's search context,
// through dns-core's cluster lookup round (all candidates at once) and its brief negative cache.
import {
  CLUSTER_TTL_S,
  LookupError,
  NODE_QUERY_TYPES,
  Rcode,
  encodeRecord,
  lookupCandidates,
  nodeDnsQuery,
  withNegativeCache,
  type ExactLookup,
  type LookupFailure,
  type NegativeCachingLookup,
} from '@telepresence/dns-core';
import type { common } from '@telepresence/rpc';

import { candidateNames, type SearchContext } from './search-context.js';

export type { LookupFailure };

/** Answers one exact (already qualified) question; rejects with DnsQueryError or node:dns's error. */
export type DnsBackend = ExactLookup;

/** A failed query, classified the way the DNS result must report it (dns-core's LookupError). */
export const DnsQueryError = LookupError;
export type DnsQueryError = LookupError;

export const supportedQtypes: ReadonlySet<number> = new Set(Object.values(NODE_QUERY_TYPES));

/**
 * node:dns against `servers` (empty: the pod's /etc/resolv.conf nameservers), with NXDOMAIN and NODATA kept
 * for `negativeTtlMs` (dns-core's NEGATIVE_TTL_MS when not given).
 */
export function nodeDnsBackend(options: {
  servers: readonly string[];
  timeoutMs: number;
  negativeTtlMs?: number;
}): NegativeCachingLookup {
  const node = nodeDnsQuery({ servers: options.servers, timeoutMs: options.timeoutMs, ttlS: CLUSTER_TTL_S });
  return withNegativeCache(node, options.negativeTtlMs === undefined ? {} : { ttlMs: options.negativeTtlMs });
}

export interface LookupResult {
  readonly answer: common.DNSAnswer;
  /** For metrics and logs. */
  readonly result: 'noerror' | LookupFailure;
  /** The name that answered, when one did. */
  readonly resolvedAs?: string;
}

/**
 * Resolves a client's question in the cluster, asking the names of the client's search context in one
 * round. Records come back named as asked, so the client's stub accepts them. NXDOMAIN only when every
 * candidate is NXDOMAIN; NOERROR with no records when some candidate exists without that type. When
 * `signal` aborts (the time budget), candidates not answered yet count as failed.
 */
export async function lookupInCluster(
  question: common.DNSQuestion,
  ctx: SearchContext,
  backend: DnsBackend,
  options: { signal?: AbortSignal } = {},
): Promise<LookupResult> {
  if (!supportedQtypes.has(question.type)) {
    return { answer: { rcode: Rcode.NOTIMP, records: [] }, result: 'notimp' };
  }
  const r = await lookupCandidates(
    { name: question.name, qtype: question.type },
    candidateNames(question.name, ctx),
    backend,
    options.signal,
  );
  return {
    answer: { rcode: r.rcode, records: r.answers.map(encodeRecord) },
    result: r.result,
    ...(r.resolvedAs === undefined ? {} : { resolvedAs: r.resolvedAs }),
  };
}
