import type { Answer } from 'dns-packet';

/** Response codes used by the server (RFC 1035, RFC 6891 for BADVERS). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/**
 * TTL of every record that comes from the cluster, on the manager's and agents' answers and the client's
 * server alike: short, so workstation caches follow cluster changes (reference 4.5).
 */
export const CLUSTER_TTL_S = 4;

/** The qtype numbers this project names (RFC 1035, 3596, 2782). */
export const Qtype = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DS: 43,
  DNSKEY: 48,
  SPF: 99,
  CAA: 257,
} as const;

const QTYPE_NAMES = new Map<number, string>(Object.entries(Qtype).map(([name, n]) => [n, name] as const));

/** The name of a qtype number in Qtype ("A", "AAAA"...), or undefined. */
export function qtypeName(qtype: number): string | undefined {
  return QTYPE_NAMES.get(qtype);
}

/** The record types the cluster can be asked for (reference 4.2 step 3). */
export const SUPPORTED_TYPES = ['A', 'AAAA', 'CNAME', 'PTR', 'SRV', 'TXT', 'MX', 'NS'] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

const TYPE_NUMBERS: Readonly<Record<SupportedType, number>> = Qtype;
const TYPE_NAMES = new Map<number, SupportedType>(SUPPORTED_TYPES.map((t) => [TYPE_NUMBERS[t], t] as const));

/** qtype number (1, 28, ...) of a supported type: what `common.v1.DNSQuestion.type` carries. */
export function qtypeNumber(type: SupportedType): number {
  return TYPE_NUMBERS[type];
}

/** The supported type with this qtype number, or undefined (the server answers NOTIMP for those). */
export function supportedTypeOf(qtype: number): SupportedType | undefined {
  return TYPE_NAMES.get(qtype);
}

/** One question asked of the cluster. */
export interface ClusterQuestion {
  /**
   * Lowercase, without the trailing dot, with the `tel2-search` marker removed. A single label stays a
   * single label (`echo`) so the cluster side applies its own search path (reference 4.4).
   */
  readonly name: string;
  readonly type: SupportedType;
}

/** The cluster's answer. NXDOMAIN is an answer, not an exception. */
export interface ClusterAnswer {
  readonly rcode: number;
  /** dns-packet answer objects; TTLs are replaced by the server's short cluster TTL. */
  readonly answers: readonly Answer[];
}

/**
 * Resolves names in the cluster (the client implements it with Manager.LookupDNS, converting with
 * `clusterAnswerFromWire`). Throwing (or rejecting) means "lookup failed" and becomes SERVFAIL; the signal
 * aborts when the server gives up (timeout, shutdown).
 */
export interface ClusterResolver {
  resolve(question: ClusterQuestion, signal: AbortSignal): Promise<ClusterAnswer>;
}
