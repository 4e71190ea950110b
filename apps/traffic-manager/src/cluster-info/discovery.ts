import type { Logger } from 'pino';

import type { PodCidrStrategy } from '../config.js';
import type { ClusterApi } from '../k8s/cluster-api.js';
import type { Clock } from '../util/clock.js';
import type { ClusterInfoStore } from './cluster-info-store.js';
import { selectPodSubnetSource } from './pod-subnets.js';
import { discoverServiceSubnet } from './service-subnet.js';
import type { SubnetMath } from './subnet-math.js';

export interface DiscoveryOptions {
  readonly api: ClusterApi;
  readonly store: ClusterInfoStore;
  readonly subnets: SubnetMath;
  readonly log: Logger;
  readonly clock: Clock;
  readonly namespace: string;
  readonly podIp: string;
  readonly serviceCidr: string | undefined;
  readonly podCidrStrategy: PodCidrStrategy;
  readonly podCidrs: readonly string[];
  readonly debounceMs: number;
}

/**
 * Finds the service subnet once, then keeps the pod subnets current until the signal aborts. Resolves when
 * the pod subnet source stops (only on abort); never rejects.
 */
export async function runSubnetDiscovery(options: DiscoveryOptions, signal: AbortSignal): Promise<void> {
  const { store, log } = options;
  const service = await discoverServiceSubnet(
    {
      api: options.api,
      subnets: options.subnets,
      log,
      namespace: options.namespace,
      podIp: options.podIp,
      configured: options.serviceCidr,
    },
    signal,
  ).catch((e: unknown) => {
    log.error({ err: String(e) }, 'service subnet discovery failed');
    return undefined;
  });
  store.setServiceSubnet(service?.cidr);

  const deps = {
    api: options.api,
    subnets: options.subnets,
    log,
    clock: options.clock,
    debounceMs: options.debounceMs,
    podIp: options.podIp,
  };
  const source = await selectPodSubnetSource(options.podCidrStrategy, options.podCidrs, deps, signal);
  await source
    .run((cidrs) => {
      log.info(
        { podSubnets: cidrs, source: source.strategy },
        `pod subnets ${cidrs.join(' ')} (${source.strategy})`,
      );
      store.setPodSubnets(cidrs);
    }, signal)
    .catch((e: unknown) => log.error({ err: String(e) }, 'pod subnet discovery stopped'));
}
