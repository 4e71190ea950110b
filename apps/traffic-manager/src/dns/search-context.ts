// Which names the manager tries for a client's question (reference 4.4, manager side). The manager runs in
// its own namespace, but a client's single labels and "svc.ns" names mean the client's namespace: the
// pod's search list is rebuilt with the client's namespace in the place of the manager's, and dns-core's
// searchCandidates applies it.
import { searchCandidates } from '@telepresence/dns-core';

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

/** Names to try in order, lowercase, without the trailing dot (see dns-core searchCandidates). */
export function candidateNames(name: string, ctx: SearchContext): string[] {
  return searchCandidates(name, {
    search: clientSearchList(ctx),
    ndots: ctx.ndots,
    clusterDomain: ctx.clusterDomain,
  });
}
