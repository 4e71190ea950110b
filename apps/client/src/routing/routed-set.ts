// The routed set (DESIGN.md section 2, reference 3.5): what the VIF routes into the cluster.
//   service subnet + pod subnets + also-proxy
//   minus never-proxy, except that an also-proxy subnet lying inside a never-proxy one is routed anyway
//   minus the API server's own addresses (the port-forward to the manager must not go into the TUN)
//   minus loopback
//   with subnets equal to or covered by others pruned.
// CIDR maths come from @telepresence/subnets. Never-proxy is applied by subtraction, so the result is a plain list of routes on the TUN: no policy
// routing table, no static overrides via the default gateway, and IPv6 behaves like IPv4.
import {
  compareCidrs,
  covers,
  formatCidr,
  overlaps,
  parseCidr,
  pruneCovered,
  subtractAll,
  type Cidr,
} from '@telepresence/subnets';
import { TpError } from '../util/errors.js';

export interface RoutedSetInput {
  readonly serviceSubnet?: Cidr | undefined;
  readonly podSubnets: readonly Cidr[];
  readonly alsoProxy: readonly Cidr[];
  readonly neverProxy: readonly Cidr[];
  /** Addresses of the Kubernetes API server (resolved kubeconfig server host). */
  readonly apiServerIps: readonly string[];
}

export interface RoutedSet {
  /** Sorted, pruned. */
  readonly routed: readonly Cidr[];
  /** Never-proxy subnets (including the API server's /32s) that actually cut something out. */
  readonly neverProxied: readonly Cidr[];
  /** Never-proxy subnets that overlap nothing routed (logged, as the original does). */
  readonly droppedNeverProxy: readonly Cidr[];
}

export const LOOPBACK: readonly Cidr[] = [parseCidr('127.0.0.0/8'), parseCidr('::1/128')];

function hostCidr(ip: string): Cidr {
  return parseCidr(ip);
}

/** Rejects also-proxy subnets that touch loopback: routing loopback into the cluster breaks the host. */
export function validateAlsoProxy(alsoProxy: readonly Cidr[]): void {
  for (const a of alsoProxy) {
    const lo = LOOPBACK.find((l) => overlaps(l, a));
    if (lo) {
      throw new TpError('config', `also-proxy subnet ${formatCidr(a)} overlaps loopback ${formatCidr(lo)}`, {
        hint: 'remove it from --also-proxy or routing.alsoProxy',
      });
    }
  }
}

export function computeRoutedSet(input: RoutedSetInput): RoutedSet {
  validateAlsoProxy(input.alsoProxy);
  const clusterSubnets = [...(input.serviceSubnet ? [input.serviceSubnet] : []), ...input.podSubnets];
  const apiServer = input.apiServerIps.map(hostCidr);
  const always = [...apiServer, ...LOOPBACK];

  const cluster = subtractAll(clusterSubnets, input.neverProxy);
  // An also-proxy subnet escapes every never-proxy that contains it, but not one that lies inside it.
  const also = input.alsoProxy.flatMap((a) =>
    subtractAll(
      [a],
      input.neverProxy.filter((n) => !covers(n, a)),
    ),
  );
  const routed = pruneCovered(subtractAll([...cluster, ...also], always)).sort(compareCidrs);

  const candidates = [...clusterSubnets, ...input.alsoProxy];
  const neverProxied: Cidr[] = [];
  const dropped: Cidr[] = [];
  for (const n of [...input.neverProxy, ...apiServer]) {
    if (candidates.some((c) => overlaps(c, n))) neverProxied.push(n);
    else if (input.neverProxy.includes(n)) dropped.push(n);
  }
  return { routed, neverProxied: pruneCovered(neverProxied).sort(compareCidrs), droppedNeverProxy: dropped };
}

export function sameCidrList(a: readonly Cidr[], b: readonly Cidr[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((c, i) => {
    const other = b[i];
    return other !== undefined && formatCidr(c) === formatCidr(other);
  });
}
