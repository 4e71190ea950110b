// resolv.conf(5): the lines that name lookups depend on (readResolvConf, as written) and the one normalized
// form every app uses (parseResolvConf): the client's overriding resolver, the manager and the agents.
import net from 'node:net';

export interface ResolvConfLines {
  /** Each `nameserver` line's address, in order. */
  readonly nameservers: readonly string[];
  /** The last `search` or `domain` line's words. */
  readonly search: readonly string[];
  /** `options ndots:N` (at most 15, like glibc); 1 when absent. */
  readonly ndots: number;
}

/** Parses resolv.conf text; comments (# or ;) and unknown lines are ignored, as libc does. */
export function readResolvConf(text: string): ResolvConfLines {
  const nameservers: string[] = [];
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] !== undefined) nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') search = rest;
    else if (key === 'options') {
      for (const opt of rest) {
        const m = /^ndots:(\d+)$/.exec(opt);
        if (m?.[1] !== undefined) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { nameservers, search, ndots };
}

/** resolv.conf as lookups use it. */
export interface ResolvConf {
  /** IP addresses only, IPv6 zones dropped (node:dns and our sockets take plain addresses). */
  readonly nameservers: readonly string[];
  /** Lowercase, without leading or trailing dots, empty entries dropped. */
  readonly search: readonly string[];
  readonly ndots: number;
}

/** readResolvConf, normalized the one way every caller needs. */
export function parseResolvConf(text: string): ResolvConf {
  const lines = readResolvConf(text);
  return {
    nameservers: lines.nameservers.map((ns) => ns.replace(/%.*$/, '')).filter((ip) => net.isIP(ip) !== 0),
    search: lines.search
      .map((d) => d.toLowerCase().replace(/^\.+/, '').replace(/\.+$/, ''))
      .filter((d) => d.length > 0),
    ndots: lines.ndots,
  };
}

/** The domain when nothing says otherwise (reference 3.3 step 3). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/**
 * The cluster domain from a pod's search list, shaped `<ns>.svc.<cd> svc.<cd> <cd>` by the kubelet
 * (reference 3.3). Undefined when the list does not have that shape.
 */
export function clusterDomainFromSearch(search: readonly string[], namespace: string): string | undefined {
  const nsEntry = search.find((d) => d.startsWith(`${namespace}.svc.`));
  if (nsEntry === undefined) {
    return undefined;
  }
  const domain = nsEntry.slice(`${namespace}.svc.`.length);
  return search.includes(`svc.${domain}`) && search.includes(domain) ? domain : undefined;
}
