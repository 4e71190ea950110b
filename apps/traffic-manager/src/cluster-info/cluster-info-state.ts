import { manager } from '@telepresence/rpc';
import { ipTextToBytes } from '@telepresence/subnets';

import type { SubnetMath } from './subnet-math.js';

/** What the manager knows about the cluster's network, as plain strings. */
export interface ClusterInfoState {
  readonly serviceSubnet: string | undefined;
  /** Canonical CIDRs; pruned and sorted when converted. */
  readonly podSubnets: readonly string[];
  /** Without the trailing dot, e.g. "cluster.local". */
  readonly clusterDomain: string;
  readonly managerPodIp: string;
  readonly managerPodPort: number;
  readonly managerNamespace: string;
  readonly routing: {
    readonly alsoProxySubnets: readonly string[];
    readonly neverProxySubnets: readonly string[];
    readonly allowConflictingSubnets: readonly string[];
  };
  readonly dns: { readonly includeSuffixes: readonly string[]; readonly excludeSuffixes: readonly string[] };
}

export function toClusterInfoMessage(state: ClusterInfoState, subnets: SubnetMath): manager.ClusterInfo {
  const nets = (cidrs: readonly string[]) => cidrs.map((c) => subnets.toIpNet(c));
  return manager.ClusterInfo.fromPartial({
    serviceSubnet: state.serviceSubnet === undefined ? undefined : subnets.toIpNet(state.serviceSubnet),
    podSubnets: nets(subnets.pruneCovered(state.podSubnets)),
    managerPodIp: state.managerPodIp === '' ? Buffer.alloc(0) : ipTextToBytes(state.managerPodIp),
    managerPodPort: state.managerPodPort,
    managerNamespace: state.managerNamespace,
    routing: {
      alsoProxySubnets: nets(state.routing.alsoProxySubnets),
      neverProxySubnets: nets(state.routing.neverProxySubnets),
      allowConflictingSubnets: nets(state.routing.allowConflictingSubnets),
    },
    dns: {
      includeSuffixes: [...state.dns.includeSuffixes],
      excludeSuffixes: [...state.dns.excludeSuffixes],
      clusterDomain: `${state.clusterDomain}.`,
    },
  });
}

/** Structural equality through the wire form: only real changes reach the watchers. */
export function sameClusterInfo(a: manager.ClusterInfo, b: manager.ClusterInfo): boolean {
  return Buffer.from(manager.ClusterInfo.encode(a).finish()).equals(
    Buffer.from(manager.ClusterInfo.encode(b).finish()),
  );
}
