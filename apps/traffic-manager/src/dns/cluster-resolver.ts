// Manager-side DNS lookups: node:dns (c-ares) against the pod's resolvers, with the client's search context.
import type { Answer } from 'dns-packet';

import { UnsupportedQueryTypeError, nodeDnsQuery } from '@telepresence/dns-core';
import type { common } from '@telepresence/rpc';

import { QTYPE, RCODE, encodeRecord } from './records.js';
import { candidateNames, type SearchContext } from './search-context.js';

/** TTL of every record handed to clients: short, so workstation caches follow cluster changes (reference 4.5). */
export const ANSWER_TTL_S = 4;

export type LookupFailure = 'nxdomain' | 'nodata' | 'servfail' | 'notimp';

/** A failed query, classified the way the DNS result must report it. */
export class DnsQueryError extends Error {
  override readonly name = 'DnsQueryError';
  constructor(
    readonly kind: LookupFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Answers one exact (already qualified) question; rejects with DnsQueryError. */
export interface DnsBackend {
  query(fqdn: string, qtype: number): Promise<Answer[]>;
}

export const supportedQtypes: ReadonlySet<number> = new Set([
  QTYPE.A,
  QTYPE.AAAA,
  QTYPE.PTR,
  QTYPE.CNAME,
  QTYPE.SRV,
  QTYPE.TXT,
  QTYPE.MX,
]);

function classify(e: unknown, fqdn: string): DnsQueryError {
  const code = (e as { code?: unknown }).code;
  switch (code) {
    case 'ENOTFOUND':
      return new DnsQueryError('nxdomain', `${fqdn}: no such name`);
    case 'ENODATA':
      return new DnsQueryError('nodata', `${fqdn}: no records of that type`);
    default:
      return new DnsQueryError('servfail', `${fqdn}: ${typeof code === 'string' ? code : String(e)}`);
  }
}

/** A DnsBackend on node:dns; `servers` empty means the pod's /etc/resolv.conf nameservers. */
export function nodeDnsBackend(options: { servers: readonly string[]; timeoutMs: number }): DnsBackend {
  const node = nodeDnsQuery({ servers: options.servers, timeoutMs: options.timeoutMs, ttlS: ANSWER_TTL_S });
  return {
    async query(fqdn, qtype) {
      try {
        return await node.query(fqdn, qtype);
      } catch (e) {
        throw e instanceof UnsupportedQueryTypeError
          ? new DnsQueryError('notimp', e.message)
          : classify(e, fqdn);
      }
    },
  };
}

export interface LookupResult {
  readonly answer: common.DNSAnswer;
  /** For metrics and logs. */
  readonly result: 'noerror' | LookupFailure;
  /** The name that answered, when one did. */
  readonly resolvedAs?: string;
}

/**
 * Resolves a client's question in the cluster, trying the names of the client's search context in order.
 * Records come back named as asked, so the client's stub accepts them. NXDOMAIN only when every candidate
 * is NXDOMAIN; NOERROR with no records when some candidate exists without that type.
 */
export async function lookupInCluster(
  question: common.DNSQuestion,
  ctx: SearchContext,
  backend: DnsBackend,
  options: { budgetMs?: number; now?: () => number } = {},
): Promise<LookupResult> {
  // A slow upstream must not multiply its timeout by the number of search candidates.
  const now = options.now ?? Date.now;
  const giveUpAt = now() + (options.budgetMs ?? Number.POSITIVE_INFINITY);
  const asked = question.name.replace(/\.+$/, '');
  if (!supportedQtypes.has(question.type)) {
    return { answer: { rcode: RCODE.NOTIMP, records: [] }, result: 'notimp' };
  }
  let sawNoData = false;
  let sawFailure = false;
  for (const fqdn of candidateNames(question.name, ctx)) {
    if (now() > giveUpAt) {
      sawFailure = true;
      break;
    }
    try {
      const records = await backend.query(fqdn, question.type);
      if (records.length === 0) {
        sawNoData = true;
        continue;
      }
      return {
        answer: {
          rcode: RCODE.NOERROR,
          records: records.map((r) => encodeRecord({ ...r, name: asked } as Answer)),
        },
        result: 'noerror',
        resolvedAs: fqdn,
      };
    } catch (e) {
      const kind = e instanceof DnsQueryError ? e.kind : 'servfail';
      if (kind === 'nodata') sawNoData = true;
      else if (kind === 'notimp') return { answer: { rcode: RCODE.NOTIMP, records: [] }, result: 'notimp' };
      else if (kind === 'servfail') sawFailure = true;
    }
  }
  if (sawNoData) return { answer: { rcode: RCODE.NOERROR, records: [] }, result: 'nodata' };
  if (sawFailure) return { answer: { rcode: RCODE.SERVFAIL, records: [] }, result: 'servfail' };
  return { answer: { rcode: RCODE.NXDOMAIN, records: [] }, result: 'nxdomain' };
}
