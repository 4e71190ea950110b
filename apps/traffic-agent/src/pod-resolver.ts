// DNS lookups in the agent pod's own DNS context (seed "Cluster side DNS lookups"): the pod's resolv.conf
// nameservers, search list and ndots, so a single label resolves in the pod's namespace. The search rule,
// the lookup round and the negative cache are dns-core's, shared with the traffic-manager; what is the
// agent's own is the pod's hosts file. Answers carry the records named as asked with the cluster TTL, so
// the manager's union of several agents' answers de-duplicates byte-identical records.
import type { Answer } from 'dns-packet';

import {
  CLUSTER_TTL_S,
  Qtype,
  Rcode,
  encodeRecord,
  lookupCandidates,
  nodeDnsQuery,
  searchCandidates,
  withNegativeCache,
  type ExactLookup,
  type ResolvConf,
} from '@telepresence/dns-core';
import type { common } from '@telepresence/rpc';

export { parseResolvConf, type ResolvConf, type ExactLookup } from '@telepresence/dns-core';

/** The pod's resolv.conf, and its cluster domain when known (names in it are not searched). */
export type PodDnsContext = ResolvConf & { readonly clusterDomain?: string };

/** Names to try, like the pod's stub resolver (dns-core searchCandidates). */
export function candidateNames(name: string, conf: PodDnsContext): string[] {
  return searchCandidates(name, conf);
}

/** The pod's hosts file (/etc/hosts: its own hostname, hostAliases): name -> addresses. */
export type HostsTable = ReadonlyMap<string, readonly string[]>;

export function parseHosts(text: string): HostsTable {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const [ip, ...names] = raw.replace(/#.*$/, '').trim().split(/\s+/);
    if (ip === undefined || ip === '' || names.length === 0) continue;
    for (const n of names) {
      const key = n.toLowerCase().replace(/\.$/, '');
      const list = out.get(key) ?? [];
      if (!list.includes(ip)) list.push(ip);
      out.set(key, list);
    }
  }
  return out;
}

/** node:dns (c-ares) against the given nameservers ("ip" or "ip:port"), NXDOMAIN/NODATA kept briefly. */
export function nodeExactLookup(nameservers: readonly string[], timeoutMs = 2000): ExactLookup {
  return withNegativeCache(nodeDnsQuery({ servers: nameservers, timeoutMs, ttlS: CLUSTER_TTL_S }));
}

/**
 * Resolves a question in the pod's context. NXDOMAIN only when every candidate name is NXDOMAIN; NOERROR
 * without records when a name exists without that type; SERVFAIL when lookups failed otherwise. Never
 * rejects: the manager always gets an answer (the original posted nothing on errors, making the manager
 * wait its full timeout).
 */
export async function lookupInPod(
  question: common.DNSQuestion,
  conf: PodDnsContext,
  exact: ExactLookup,
  hosts: HostsTable = new Map(),
): Promise<common.DNSAnswer> {
  const asked = question.name.replace(/\.+$/, '');
  const candidates = candidateNames(question.name, conf);
  // Like the pod's own resolver (files before dns): its hosts file answers A/AAAA first.
  if (question.type === Qtype.A || question.type === Qtype.AAAA) {
    for (const fqdn of [asked.toLowerCase(), ...candidates]) {
      const ips = (hosts.get(fqdn) ?? []).filter((ip) => (question.type === Qtype.A) === !ip.includes(':'));
      if (ips.length === 0) continue;
      const type = question.type === Qtype.A ? 'A' : 'AAAA';
      return {
        rcode: Rcode.NOERROR,
        records: ips.map((data) =>
          encodeRecord({ name: asked, type, ttl: CLUSTER_TTL_S, class: 'IN', data } as Answer),
        ),
      };
    }
  }
  const r = await lookupCandidates({ name: question.name, qtype: question.type }, candidates, exact);
  return { rcode: r.rcode, records: r.answers.map(encodeRecord) };
}
