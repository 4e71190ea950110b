// Reading the pod's /etc/resolv.conf: the cluster domain and the search context for manager-side lookups.
import { readResolvConf } from '@telepresence/dns-core';

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly ndots: number;
}

export function parseResolvConf(text: string): ResolvConf {
  const { nameservers, search, ndots } = readResolvConf(text);
  return {
    nameservers,
    search: search.map((d) => d.replace(/\.+$/, '').toLowerCase()).filter((d) => d.length > 0),
    ndots,
  };
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
