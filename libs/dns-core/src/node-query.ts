// Exact-name lookups with node:dns (c-ares), for resolving in a pod's DNS context (the traffic-agent in
// its pod, the traffic-manager in its own). Search lists and how failures are reported stay with the caller.
import { Resolver } from 'node:dns/promises';

import type { Answer } from 'dns-packet';

import { Qtype } from './types.js';

const { A, CNAME, PTR, MX, TXT, AAAA, SRV } = Qtype;
/** Query types nodeDnsQuery answers. */
export const NODE_QUERY_TYPES = { A, CNAME, PTR, MX, TXT, AAAA, SRV } as const;

/** Rejection for a query type node:dns cannot ask; `code` is 'ENOTIMP' like c-ares's own. */
export class UnsupportedQueryTypeError extends Error {
  override readonly name = 'UnsupportedQueryTypeError';
  readonly code = 'ENOTIMP';
  constructor(readonly qtype: number) {
    super(`query type ${qtype} is not supported`);
  }
}

/** Answers one exact (already qualified) name. */
export interface NodeDnsQuery {
  /**
   * The records of that type, named `fqdn`; rejects with node:dns's error (its `code`: ENOTFOUND, ENODATA,
   * ETIMEOUT...) or an UnsupportedQueryTypeError.
   */
  query(fqdn: string, qtype: number): Promise<Answer[]>;
}

/**
 * node:dns against `servers` ("ip" or "ip:port"; none: this host's resolv.conf nameservers), two tries of
 * `timeoutMs` each; every record carries `ttlS`.
 */
export function nodeDnsQuery(options: {
  servers: readonly string[];
  timeoutMs: number;
  ttlS: number;
}): NodeDnsQuery {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 2 });
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  const base = { ttl: options.ttlS, class: 'IN' as const };
  const T = NODE_QUERY_TYPES;
  return {
    async query(fqdn, qtype) {
      switch (qtype) {
        case T.A:
          return (await resolver.resolve4(fqdn)).map((data) => ({ ...base, name: fqdn, type: 'A', data }));
        case T.AAAA:
          return (await resolver.resolve6(fqdn)).map((data) => ({ ...base, name: fqdn, type: 'AAAA', data }));
        case T.PTR:
          return (await resolver.resolvePtr(fqdn)).map((data) => ({
            ...base,
            name: fqdn,
            type: 'PTR',
            data,
          }));
        case T.CNAME:
          return (await resolver.resolveCname(fqdn)).map((data) => ({
            ...base,
            name: fqdn,
            type: 'CNAME',
            data,
          }));
        case T.SRV:
          return (await resolver.resolveSrv(fqdn)).map((s) => ({
            ...base,
            name: fqdn,
            type: 'SRV',
            data: { port: s.port, target: s.name, priority: s.priority, weight: s.weight },
          }));
        case T.TXT:
          return (await resolver.resolveTxt(fqdn)).map((data) => ({
            ...base,
            name: fqdn,
            type: 'TXT',
            data,
          }));
        case T.MX:
          return (await resolver.resolveMx(fqdn)).map((m) => ({
            ...base,
            name: fqdn,
            type: 'MX',
            data: { exchange: m.exchange, preference: m.priority },
          }));
        default:
          throw new UnsupportedQueryTypeError(qtype);
      }
    },
  };
}
