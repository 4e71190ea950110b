// Reading the pod's /etc/resolv.conf: the cluster domain and the search context for manager-side lookups.

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly ndots: number;
}

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] !== undefined) {
      nameservers.push(rest[0]);
    } else if (key === 'search' || key === 'domain') {
      search = rest.map((d) => d.replace(/\.+$/, '').toLowerCase()).filter((d) => d.length > 0);
    } else if (key === 'options') {
      for (const opt of rest) {
        const m = /^ndots:(\d+)$/.exec(opt);
        if (m?.[1] !== undefined) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { nameservers, search, ndots };
}

export const defaultClusterDomain = 'cluster.local';

/**
 * The cluster domain from a pod's search list, shaped `<ns>.svc.<cd> svc.<cd> <cd>` by the kubelet.
 * Undefined when the list does not have that shape (the caller falls back to cluster.local).
 */
export function clusterDomainFromSearch(search: readonly string[], namespace: string): string | undefined {
  const nsEntry = search.find((d) => d.startsWith(`${namespace}.svc.`));
  if (nsEntry === undefined) {
    return undefined;
  }
  const domain = nsEntry.slice(`${namespace}.svc.`.length);
  return search.includes(`svc.${domain}`) && search.includes(domain) ? domain : undefined;
}
