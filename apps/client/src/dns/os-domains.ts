// What the OS must send to our server, for the mechanisms that route by domain (systemd-resolved, macOS
// resolver files, Windows NRPT): derived from the same routing config as dns-core's server, so the OS
// and the server agree on which names are the cluster's.
import { normalizeDnsConfig, SEARCH_MARKER, type DnsRoutingConfig } from '@telepresence/dns-core';

/** The namespace the recursion check's name lives in; routed to us only while the check runs. */
export const RECURSION_CHECK_DOMAIN = 'kube-system';

export interface OsDnsDomains {
  /** Routing-only domains: names under these go to our server. Sorted, unique, no dots at the ends. */
  readonly routes: readonly string[];
  /** Search domains that the OS appends to single-label names; `tel2-search` first. */
  readonly search: readonly string[];
}

/**
 * The domains to route for a config: the cluster domain, the mapped namespaces and `svc`, the connected
 * namespace, the include suffixes, plus `extraRoutes` (kube-system during the recursion check).
 */
export function osDomains(config: DnsRoutingConfig, extraRoutes: readonly string[] = []): OsDnsDomains {
  const n = normalizeDnsConfig(config);
  const routes = new Set<string>([
    n.clusterDomain,
    ...n.routes,
    ...(n.connectedNamespace === undefined ? [] : [n.connectedNamespace]),
    ...n.includeSuffixes,
    ...extraRoutes.map((r) => r.toLowerCase().replace(/^\.+|\.+$/g, '')).filter((r) => r !== ''),
  ]);
  routes.delete(SEARCH_MARKER); // a search domain, listed there
  return { routes: [...routes].sort(), search: [SEARCH_MARKER] };
}

export function sameDomains(a: OsDnsDomains | undefined, b: OsDnsDomains): boolean {
  return (
    a !== undefined &&
    a.routes.length === b.routes.length &&
    a.routes.every((r, i) => r === b.routes[i]) &&
    a.search.length === b.search.length &&
    a.search.every((s, i) => s === b.search[i])
  );
}
