// The cluster-side lookup loop (seed "Cluster side DNS lookups"), shared by the traffic-manager and the
// agents: a question's search candidates are asked in one round, in parallel, and the first candidate in
// search order that has records answers. The result is NXDOMAIN only when every candidate is NXDOMAIN,
// NOERROR without records when one exists without that type, SERVFAIL when lookups failed otherwise.
import type { Answer } from 'dns-packet';

import { CLUSTER_TTL_S, Rcode } from './types.js';

export type LookupFailure = 'nxdomain' | 'nodata' | 'servfail' | 'notimp';

/** A failed exact lookup, classified the way the DNS answer must report it. */
export class LookupError extends Error {
  override readonly name = 'LookupError';
  constructor(
    readonly kind: LookupFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Answers one exact (already qualified) name: its records of that type, or a rejection, either a
 * LookupError or an error carrying node:dns's `code` (ENOTFOUND, ENODATA, ENOTIMP, ETIMEOUT...).
 */
export interface ExactLookup {
  query(fqdn: string, qtype: number): Promise<Answer[]>;
}

/** How a rejection of ExactLookup.query counts. */
export function lookupFailureOf(e: unknown): LookupFailure {
  if (e instanceof LookupError) return e.kind;
  switch ((e as { code?: unknown } | undefined)?.code) {
    case 'ENOTFOUND':
      return 'nxdomain';
    case 'ENODATA':
      return 'nodata';
    case 'ENOTIMP':
      return 'notimp';
    default:
      return 'servfail';
  }
}

export interface CandidateLookupResult {
  readonly rcode: number;
  /** Named as asked (without the trailing dot), with the cluster TTL. */
  readonly answers: readonly Answer[];
  readonly result: 'noerror' | LookupFailure;
  /** The candidate that answered, when one did. */
  readonly resolvedAs?: string;
}

type Outcome = { readonly records: Answer[] } | { readonly failure: LookupFailure };

/**
 * Asks every candidate at once and answers from the first one in order that has records. When `signal`
 * aborts, candidates not answered by then count as failed (SERVFAIL unless an earlier one decided).
 */
export async function lookupCandidates(
  question: { readonly name: string; readonly qtype: number },
  candidates: readonly string[],
  exact: ExactLookup,
  signal?: AbortSignal,
): Promise<CandidateLookupResult> {
  const asked = question.name.replace(/\.+$/, '');
  const outcomes = candidates.map((fqdn): Promise<Outcome> =>
    exact.query(fqdn, question.qtype).then(
      (records) => (records.length > 0 ? { records } : { failure: 'nodata' }),
      (e: unknown) => ({ failure: lookupFailureOf(e) }),
    ),
  );
  const aborted = abortedOutcome(signal);
  let sawNoData = false;
  let sawFailure = false;
  try {
    for (const [i, pending] of outcomes.entries()) {
      const outcome = await Promise.race([pending, aborted.promise]);
      if ('records' in outcome) {
        return {
          rcode: Rcode.NOERROR,
          answers: outcome.records.map((r) => ({ ...r, name: asked, ttl: CLUSTER_TTL_S }) as Answer),
          result: 'noerror',
          resolvedAs: candidates[i]!,
        };
      }
      if (outcome.failure === 'notimp') return { rcode: Rcode.NOTIMP, answers: [], result: 'notimp' };
      if (outcome.failure === 'nodata') sawNoData = true;
      else if (outcome.failure === 'servfail') sawFailure = true;
    }
  } finally {
    aborted.release();
  }
  if (sawNoData) return { rcode: Rcode.NOERROR, answers: [], result: 'nodata' };
  if (sawFailure) return { rcode: Rcode.SERVFAIL, answers: [], result: 'servfail' };
  return { rcode: Rcode.NXDOMAIN, answers: [], result: 'nxdomain' };
}

function abortedOutcome(signal: AbortSignal | undefined): { promise: Promise<Outcome>; release(): void } {
  if (signal === undefined) return { promise: new Promise(() => {}), release() {} };
  let onAbort = (): void => {};
  const promise = new Promise<Outcome>((resolve) => {
    onAbort = () => resolve({ failure: 'servfail' });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, release: () => signal.removeEventListener('abort', onAbort) };
}
