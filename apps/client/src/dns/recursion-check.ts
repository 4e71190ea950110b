// The DNS recursion check at connect (seed "DNS recursion", reference 4.7), fired through the OS path:
// `tel2-recursion-check.kube-system` is looked up the way applications look names up, so it reaches our
// server through whatever hook is installed. For hooks that route by domain, kube-system is routed to
// us only while the check runs. dns-core's detector decides; the result goes to status.
import dnsPromises from 'node:dns/promises';
import {
  runRecursionCheck,
  type DnsRoutingConfig,
  type DnsServer,
  type RecursionState,
} from '@telepresence/dns-core';
import { osDomains, RECURSION_CHECK_DOMAIN } from './os-domains.js';
import type { OsResolverHook } from './os-resolver-hook.js';

export interface RecursionCheckWiring {
  readonly server: DnsServer;
  readonly hook: OsResolverHook;
  /** The routing config in force (to restore the hook's domains afterwards). */
  readonly config: () => DnsRoutingConfig;
  /** Default: dns.promises.lookup (getaddrinfo, the OS path). */
  readonly probe?: (name: string) => Promise<unknown>;
  readonly attempts?: number;
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
}

/** Runs the check; 'not-yet' means no probe reached our server (the OS does not send our names to us). */
export async function checkDnsRecursion(w: RecursionCheckWiring): Promise<RecursionState> {
  await w.hook.setDomains?.(osDomains(w.config(), [RECURSION_CHECK_DOMAIN]));
  try {
    return await runRecursionCheck(w.server, {
      probe: w.probe ?? ((name) => dnsPromises.lookup(name)),
      ...(w.attempts === undefined ? {} : { attempts: w.attempts }),
      ...(w.intervalMs === undefined ? {} : { intervalMs: w.intervalMs }),
      ...(w.signal === undefined ? {} : { signal: w.signal }),
    });
  } finally {
    await w.hook.setDomains?.(osDomains(w.config())).catch(() => undefined);
  }
}
