// The config layers of a connect, lowest first: the chart's client defaults pushed in ClusterInfo, the
// user's config file (config.ts), and the flags of the Connect request (validated here).
import type { daemon } from '@telepresence/rpc';
import { cidrFromIpNet, formatCidr, parseCidr } from '@telepresence/subnets';
import type { ClusterInfo } from '../manager/manager-api.js';
import { TpError } from '../util/errors.js';
import type { ConfigLayer } from './config.js';

/** The flags of a Connect request as a config layer (the highest one). */
export function flagsLayer(req: daemon.ConnectRequest): ConfigLayer {
  const layer: ConfigLayer = {};
  const check = (list: string[], flag: string): string[] => {
    for (const c of list) {
      try {
        parseCidr(c);
      } catch (e) {
        throw new TpError('user', `--${flag} ${c}: ${(e as Error).message}`, {
          hint: 'pass a CIDR such as 198.18.0.0/16',
        });
      }
    }
    return list;
  };
  if (req.alsoProxy.length + req.neverProxy.length + req.allowConflictingSubnets.length > 0) {
    layer.routing = {
      alsoProxy: check(req.alsoProxy, 'also-proxy'),
      neverProxy: check(req.neverProxy, 'never-proxy'),
      allowConflicting: check(req.allowConflictingSubnets, 'allow-conflicting-subnets'),
    };
  }
  const dns: NonNullable<ConfigLayer['dns']> = {};
  if (req.dns !== '') dns.upstream = req.dns;
  if (req.dnsIncludeSuffixes.length > 0) dns.includeSuffixes = req.dnsIncludeSuffixes;
  if (req.dnsExcludeSuffixes.length > 0) dns.excludeSuffixes = req.dnsExcludeSuffixes;
  if (Object.keys(dns).length > 0) layer.dns = dns;
  if (req.mappedNamespaces.length > 0) layer.cluster = { mappedNamespaces: req.mappedNamespaces };
  return layer;
}

/** The chart's pushed client defaults, from ClusterInfo (the lowest layer). */
export function pushedLayer(ci: ClusterInfo): ConfigLayer {
  const cidrs = (list: readonly { ip: Buffer; mask: number }[] | undefined): string[] =>
    (list ?? []).map((n) => formatCidr(cidrFromIpNet(n)));
  const layer: ConfigLayer = {
    routing: {
      alsoProxy: cidrs(ci.routing?.alsoProxySubnets),
      neverProxy: cidrs(ci.routing?.neverProxySubnets),
      allowConflicting: cidrs(ci.routing?.allowConflictingSubnets),
    },
  };
  const dns: NonNullable<ConfigLayer['dns']> = {};
  if ((ci.dns?.includeSuffixes.length ?? 0) > 0) dns.includeSuffixes = ci.dns?.includeSuffixes ?? [];
  if ((ci.dns?.excludeSuffixes.length ?? 0) > 0) dns.excludeSuffixes = ci.dns?.excludeSuffixes ?? [];
  layer.dns = dns;
  return layer;
}
