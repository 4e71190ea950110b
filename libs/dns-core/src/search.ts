// Which fully qualified names a question means, like a stub resolver with a search list (reference 4.4,
// cluster side). One rule for the traffic-manager (with the client's search list) and the agents (with
// their pod's): names in the cluster domain and reverse-lookup names are already complete and are tried
// as they are; other names with at least ndots dots are tried as they are first, then with each search
// entry; shorter ones with the search entries first.

export interface SearchList {
  /** Normalized entries (lowercase, no trailing dot), in order. */
  readonly search: readonly string[];
  readonly ndots: number;
  /** Names in this domain are tried only as they are. Unknown: no name is treated as complete. */
  readonly clusterDomain?: string;
}

function isComplete(bare: string, clusterDomain: string | undefined): boolean {
  if (bare.endsWith('.in-addr.arpa') || bare.endsWith('.ip6.arpa')) return true;
  if (clusterDomain === undefined || clusterDomain === '') return false;
  return bare === clusterDomain || bare.endsWith(`.${clusterDomain}`);
}

/** The names to try, in order: lowercase, without the trailing dot, each once. */
export function searchCandidates(name: string, list: SearchList): string[] {
  const bare = name.replace(/\.+$/, '').toLowerCase();
  if (bare === '') return [];
  if (isComplete(bare, list.clusterDomain)) return [bare];
  const dots = bare.split('.').length - 1;
  const searched = list.search.map((d) => `${bare}.${d}`);
  return [...new Set(dots >= list.ndots ? [bare, ...searched] : [...searched, bare])];
}
