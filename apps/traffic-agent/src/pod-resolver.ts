// DNS lookups in the agent pod's own DNS context (seed "Cluster side DNS lookups"): the pod's resolv.conf
// nameservers, search list and ndots, so a single label resolves in the pod's namespace. Answers carry
// the records named as asked with a short TTL, so the manager's union of several agents' answers
// de-duplicates byte-identical records.
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';

import { nodeDnsQuery, readResolvConf } from '@telepresence/dns-core';
import type { common } from '@telepresence/rpc';

export const ANSWER_TTL_S = 4;
export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
export const QTYPE = { A: 1, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 } as const;

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly ndots: number;
}

/** Parses resolv.conf text; unknown lines are ignored (as libc does). */
export function parseResolvConf(text: string): ResolvConf {
  const { nameservers, search, ndots } = readResolvConf(text);
  return { nameservers, search: search.map((d) => d.replace(/\.$/, '')), ndots };
}

/** Names to try, like the pod's stub resolver: enough dots -> as is first, else the search list first. */
export function candidateNames(name: string, conf: ResolvConf): string[] {
  const bare = name.replace(/\.+$/, '').toLowerCase();
  if (bare === '') return [];
  if (name.endsWith('.') && bare.includes('.') && bare.split('.').length - 1 >= conf.ndots) return [bare];
  const dots = bare.split('.').length - 1;
  const searched = conf.search.map((d) => `${bare}.${d}`);
  return [...new Set(dots >= conf.ndots ? [bare, ...searched] : [...searched, bare])];
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

/** Answers one exact name; rejects with an error whose `code` is node:dns's (ENOTFOUND, ENODATA...). */
export interface ExactLookup {
  query(fqdn: string, qtype: number): Promise<Answer[]>;
}

interface RecordCodec {
  encode(record: Answer): Buffer;
}
// dns-packet exports its per-record codec, but @types/dns-packet does not declare it.
const answerCodec = (dnsPacket as unknown as { answer: RecordCodec }).answer;

export function encodeRecord(record: Answer): Buffer {
  return answerCodec.encode(record);
}

/** node:dns (c-ares) against the given nameservers ("ip" or "ip:port"). */
export function nodeExactLookup(nameservers: readonly string[], timeoutMs = 2000): ExactLookup {
  return nodeDnsQuery({ servers: nameservers, timeoutMs, ttlS: ANSWER_TTL_S });
}

/**
 * Resolves a question in the pod's context. NXDOMAIN only when every candidate name is NXDOMAIN; NOERROR
 * without records when a name exists without that type; SERVFAIL when lookups failed otherwise. Never
 * rejects: the manager always gets an answer (the original posted nothing on errors, making the manager
 * wait its full timeout).
 */
export async function lookupInPod(
  question: common.DNSQuestion,
  conf: ResolvConf,
  exact: ExactLookup,
  hosts: HostsTable = new Map(),
): Promise<common.DNSAnswer> {
  const asked = question.name.replace(/\.+$/, '');
  let sawNoData = false;
  let sawFailure = false;
  const candidates = candidateNames(question.name, conf);
  // Like the pod's own resolver (files before dns): its hosts file answers A/AAAA first.
  if (question.type === QTYPE.A || question.type === QTYPE.AAAA) {
    for (const fqdn of [asked.toLowerCase(), ...candidates]) {
      const ips = (hosts.get(fqdn) ?? []).filter((ip) => (question.type === QTYPE.A) === !ip.includes(':'));
      if (ips.length === 0) continue;
      const type = question.type === QTYPE.A ? 'A' : 'AAAA';
      return {
        rcode: RCODE.NOERROR,
        records: ips.map((data) =>
          encodeRecord({ name: asked, type, ttl: ANSWER_TTL_S, class: 'IN', data } as Answer),
        ),
      };
    }
  }
  for (const fqdn of candidates) {
    try {
      const records = await exact.query(fqdn, question.type);
      if (records.length === 0) {
        sawNoData = true;
        continue;
      }
      return {
        rcode: RCODE.NOERROR,
        records: records.map((r) => encodeRecord({ ...r, name: asked } as Answer)),
      };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOTIMP') return { rcode: RCODE.NOTIMP, records: [] };
      if (code === 'ENODATA') sawNoData = true;
      else if (code !== 'ENOTFOUND') sawFailure = true;
    }
  }
  if (sawNoData) return { rcode: RCODE.NOERROR, records: [] };
  if (sawFailure) return { rcode: RCODE.SERVFAIL, records: [] };
  return { rcode: RCODE.NXDOMAIN, records: [] };
}
