// The Linux systemd-resolved hook (seed "Linux systemd-resolved resolver", reference 4.8/4.9): our VIF
// becomes a resolved link whose DNS server is the VIF's DNS address and whose domains are the cluster's
// (routing-only `~domain`s) plus the search domain `tel2-search` for single labels. resolved then sends
// only those names through the TUN, where the VIF hands them to our server; everything else keeps going
// to the machine's normal upstream. Nothing on disk changes; RevertLink (or the link's disappearance
// when the TUN closes) undoes it all.
import { SANITY_CHECK_NAME } from '@telepresence/dns-core';
import { noFallback } from './no-fallback.js';
import { sameDomains, type OsDnsDomains } from './os-domains.js';
import type { OsResolverHook, VifDns } from './os-resolver-hook.js';
import type { Resolve1 } from './resolved-bus.linux.js';

export interface ResolvedHookOptions {
  readonly vif: VifDns;
  readonly domains: OsDnsDomains;
  readonly resolve1: Resolve1;
  /** Looks a name up the way applications do (getaddrinfo), for the sanity check. */
  readonly lookup: (name: string) => Promise<readonly string[]>;
  /** The sanity check's budget and pace (reference: 2 s, every 200 ms). */
  readonly sanityTimeoutMs?: number;
  readonly sanityIntervalMs?: number;
  /** Where our server listens; the VIF forwards DNS flows there. */
  readonly listenAddress?: string;
}

/** install() found resolved configured but not sending our names to us; use another mechanism. */
export class ResolvedNotRoutingError extends Error {
  override readonly name = 'ResolvedNotRoutingError';
}

/** The `SetLinkDomains` list: search domains as they are, routes as routing-only `~` domains. */
export function resolvedLinkDomains(domains: OsDnsDomains): string[] {
  return [...domains.search, ...domains.routes.map((r) => `~${r}`)];
}

/** A link that is gone (the TUN closed first) has nothing left to revert. */
function ignoreGoneLink(err: unknown): void {
  if (!/not known|no such (device|link)/i.test(String(err))) throw err;
}

export function createResolvedHook(options: ResolvedHookOptions): OsResolverHook {
  const { vif, resolve1 } = options;
  const listenAddress = options.listenAddress ?? '127.0.0.1';
  let domains = options.domains;
  let applied: OsDnsDomains | undefined;
  let touched = false;
  let removed = false;

  const sanityCheck = async (): Promise<boolean> => {
    const deadline = Date.now() + (options.sanityTimeoutMs ?? 2000);
    const interval = options.sanityIntervalMs ?? 200;
    for (;;) {
      // Only our server answers this name with localhost; anything else means resolved did not route it.
      const addresses = await options.lookup(SANITY_CHECK_NAME).catch(() => [] as readonly string[]);
      if (addresses.includes('127.0.0.1') || addresses.includes('::1')) return true;
      if (Date.now() + interval > deadline) return false;
      await new Promise((r) => setTimeout(r, interval));
    }
  };

  return {
    mode: 'systemd-resolved',
    upstream: 'systemd-resolved (names outside the cluster domains never reach us)',
    listenAddress,
    fallback: noFallback,
    searchDomains: [],
    async install(port: number): Promise<void> {
      vif.serveDnsAt(listenAddress, port);
      touched = true;
      await resolve1.setLinkDns(vif.ifindex, [vif.dnsAddress]);
      await resolve1.setLinkDomains(vif.ifindex, resolvedLinkDomains(domains));
      applied = domains;
      if (!(await sanityCheck())) {
        await resolve1.revertLink(vif.ifindex).catch(() => undefined);
        touched = false;
        throw new ResolvedNotRoutingError(
          `systemd-resolved does not route "${SANITY_CHECK_NAME}" to link ${vif.name} (${vif.dnsAddress})`,
        );
      }
    },
    async setDomains(next: OsDnsDomains): Promise<void> {
      domains = next;
      if (!touched || removed || sameDomains(applied, next)) return;
      await resolve1.setLinkDomains(vif.ifindex, resolvedLinkDomains(next));
      applied = next;
      // resolved caches our short-TTL answers too; names that just left (or joined) the cluster's domains
      // must not be answered from there.
      await resolve1.flushCaches();
    },
    async flushCaches(): Promise<void> {
      if (touched && !removed) await resolve1.flushCaches();
    },
    async remove(): Promise<void> {
      if (removed) return;
      removed = true;
      try {
        if (touched) await resolve1.revertLink(vif.ifindex).catch(ignoreGoneLink);
      } finally {
        resolve1.close();
      }
    },
  };
}
