// Which fully-qualified names to try for a client's question (reference 4.4, manager side). The manager runs
// in its own namespace, but a client's single labels and "svc.ns" names mean the client's namespace: the
// pod's search list is rebuilt with the client's namespace in the place of the manager's.

export interface SearchContext {
  readonly clientNamespace: string;
  /** Without the trailing dot, e.g. "cluster.local". */
  readonly clusterDomain: string;
  /** The manager pod's own search list (resolv.conf), used for entries beyond the cluster ones. */
  readonly podSearch: readonly string[];
  readonly ndots: number;
}

/** The client's search list: `<ns>.svc.<cd> svc.<cd> <cd>`, then the pod's other (non-cluster) entries. */
export function clientSearchList(ctx: SearchContext): string[] {
  const cd = ctx.clusterDomain;
  const cluster = [`${ctx.clientNamespace}.svc.${cd}`, `svc.${cd}`, cd];
  const extra = ctx.podSearch.filter((d) => d !== cd && !d.endsWith(`.${cd}`));
  return [...new Set([...cluster, ...extra])];
}

/**
 * Names to try in order, like a stub resolver with the client's search list: a name with at least ndots
 * dots (or in the cluster domain, or a reverse-lookup name) is tried as is first; otherwise the search
 * list first. Names come back lowercase, without the trailing dot.
 */
export function candidateNames(name: string, ctx: SearchContext): string[] {
  const bare = name.replace(/\.+$/, '').toLowerCase();
  if (bare === '') {
    return [];
  }
  const cd = ctx.clusterDomain;
  if (
    bare === cd ||
    bare.endsWith(`.${cd}`) ||
    bare.endsWith('.in-addr.arpa') ||
    bare.endsWith('.ip6.arpa')
  ) {
    return [bare];
  }
  const dots = bare.split('.').length - 1;
  const searched = clientSearchList(ctx).map((d) => `${bare}.${d}`);
  return dots >= ctx.ndots ? [bare, ...searched] : [...searched, bare];
}
