import type { Logger } from 'pino';

import type { manager } from '@telepresence/rpc';

import { LatestValue } from '../util/latest-value.js';
import { sameClusterInfo, toClusterInfoMessage, type ClusterInfoState } from './cluster-info-state.js';
import type { SubnetMath } from './subnet-math.js';

/**
 * The manager's current ClusterInfo. Discovery updates parts of it; every WatchClusterInfo stream follows
 * `watch()`, which coalesces for slow readers and never loses the last change.
 */
export class ClusterInfoStore {
  private state: ClusterInfoState;
  private readonly latest: LatestValue<manager.ClusterInfo>;

  constructor(
    initial: ClusterInfoState,
    private readonly subnets: SubnetMath,
    private readonly log: Logger,
  ) {
    this.state = initial;
    this.latest = new LatestValue(toClusterInfoMessage(initial, subnets), sameClusterInfo);
  }

  get current(): manager.ClusterInfo {
    return this.latest.current;
  }

  get snapshot(): ClusterInfoState {
    return this.state;
  }

  setServiceSubnet(cidr: string | undefined): void {
    this.update({ ...this.state, serviceSubnet: cidr });
  }

  setPodSubnets(cidrs: readonly string[]): void {
    this.update({ ...this.state, podSubnets: this.subnets.pruneCovered(cidrs) });
  }

  watch(signal: AbortSignal): AsyncGenerator<manager.ClusterInfo, void, undefined> {
    return this.latest.watch(signal);
  }

  private update(next: ClusterInfoState): void {
    this.state = next;
    if (this.latest.set(toClusterInfoMessage(next, this.subnets))) {
      this.log.info(
        {
          serviceSubnet: next.serviceSubnet ?? null,
          podSubnets: next.podSubnets,
          clusterDomain: next.clusterDomain,
        },
        'cluster info changed',
      );
    }
  }
}
