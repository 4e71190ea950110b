// Pod subnet discovery, one source per podCIDRStrategy (reference 3.2), each publishing debounced changes.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import type { PodCidrStrategy } from '../config.js';
import type { ClusterApi, ListWatchSource, WatchEvent } from '../k8s/cluster-api.js';
import { runListWatch } from '../k8s/list-watch.js';
import type { Clock } from '../util/clock.js';
import { Debouncer } from '../util/debouncer.js';
import type { SubnetMath } from './subnet-math.js';

export interface PodSubnetSource {
  readonly strategy: Exclude<PodCidrStrategy, 'auto'>;
  /** Whether this source gives usable subnets in this cluster (logs why not). */
  viable(signal: AbortSignal): Promise<boolean>;
  /** Publishes the current subnets (pruned, sorted) on start and after each change, until the signal aborts. */
  run(publish: (cidrs: string[]) => void, signal: AbortSignal): Promise<void>;
}

export interface PodSubnetDeps {
  readonly api: ClusterApi;
  readonly subnets: SubnetMath;
  readonly log: Logger;
  readonly clock: Clock;
  readonly debounceMs: number;
  /** The manager's own pod IP: node podCIDRs are trusted only if one contains it. */
  readonly podIp: string;
}

/** Keeps a keyed set of values from a list/watch and publishes a derived CIDR list, debounced and only on change. */
async function watchAndPublish<T>(
  source: ListWatchSource<T>,
  what: string,
  keyOf: (item: T) => string | undefined,
  valuesOf: (item: T) => string[],
  derive: (all: string[]) => string[],
  deps: PodSubnetDeps,
  publish: (cidrs: string[]) => void,
  signal: AbortSignal,
): Promise<void> {
  const byKey = new Map<string, string[]>();
  let last: string | undefined;
  const debouncer = new Debouncer(deps.clock, deps.debounceMs, () => {
    const cidrs = derive([...byKey.values()].flat());
    const key = cidrs.join(' ');
    if (key !== last) {
      last = key;
      publish(cidrs);
    }
  });
  const put = (item: T): void => {
    const key = keyOf(item);
    if (key === undefined) return;
    const values = valuesOf(item);
    if (values.length === 0) byKey.delete(key);
    else byKey.set(key, values);
  };
  try {
    await runListWatch(
      source,
      {
        reset(items) {
          byKey.clear();
          items.forEach(put);
          debouncer.trigger();
        },
        event(e: WatchEvent<T>) {
          if (e.type === 'DELETED') {
            const key = keyOf(e.object);
            if (key !== undefined) byKey.delete(key);
          } else {
            put(e.object);
          }
          debouncer.trigger();
        },
      },
      { log: deps.log, what, signal },
    );
  } finally {
    debouncer.cancel();
  }
}

function parseAll(texts: Iterable<string>, subnets: SubnetMath, log: Logger): string[] {
  const out: string[] = [];
  for (const t of texts) {
    try {
      out.push(subnets.parseCidr(t));
    } catch {
      log.warn({ cidr: t }, 'ignoring an unparseable pod CIDR');
    }
  }
  return out;
}

export function nodePodCidrsOf(node: V1Node): string[] {
  const many = node.spec?.podCIDRs ?? [];
  if (many.length > 0) return many;
  return node.spec?.podCIDR === undefined ? [] : [node.spec.podCIDR];
}

/** Node spec.podCIDR(s); viable only if one of them contains the manager's own pod IP. */
export function nodePodCidrsSource(deps: PodSubnetDeps): PodSubnetSource {
  const log = deps.log.child({ component: 'pod-subnets.nodes' });
  return {
    strategy: 'nodePodCIDRs',
    async viable(signal) {
      const { items } = await deps.api.nodes.list(signal);
      const cidrs = parseAll(items.flatMap(nodePodCidrsOf), deps.subnets, log);
      const ok = cidrs.some((c) => deps.subnets.containsIp(c, deps.podIp));
      log.info(
        { nodes: items.length, cidrs, podIp: deps.podIp, viable: ok },
        ok
          ? 'node podCIDRs contain the manager pod IP'
          : 'node podCIDRs are not viable: none contains the manager pod IP (the CNI does not allocate from them)',
      );
      return ok;
    },
    run(publish, signal) {
      return watchAndPublish(
        deps.api.nodes,
        'nodes',
        (n) => n.metadata?.name,
        nodePodCidrsOf,
        (all) => deps.subnets.pruneCovered(parseAll(all, deps.subnets, log)),
        { ...deps, log },
        publish,
        signal,
      );
    },
  };
}

/** The IPs a pod really holds in the pod network: none for host-network pods and finished pods. */
export function podNetworkIpsOf(pod: V1Pod): string[] {
  const phase = pod.status?.phase;
  if (pod.spec?.hostNetwork === true || phase === 'Succeeded' || phase === 'Failed') {
    return [];
  }
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip) => ip.length > 0);
  if (ips.length > 0) return ips;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** Covering CIDRs of all pod IPs (host-network and finished pods excluded). Always viable. */
export function coverPodIpsSource(deps: PodSubnetDeps): PodSubnetSource {
  const log = deps.log.child({ component: 'pod-subnets.pods' });
  return {
    strategy: 'coverPodIPs',
    viable: () => Promise.resolve(true),
    run(publish, signal) {
      return watchAndPublish(
        deps.api.pods,
        'pods',
        (p) =>
          p.metadata?.uid ??
          (p.metadata?.namespace !== undefined
            ? `${p.metadata.namespace}/${p.metadata.name ?? ''}`
            : undefined),
        podNetworkIpsOf,
        (all) => deps.subnets.coveringCidrs(all),
        { ...deps, log },
        publish,
        signal,
      );
    },
  };
}

/** Exactly the configured list (chart value podCIDRs); static. */
export function environmentSource(cidrs: readonly string[], subnets: SubnetMath): PodSubnetSource {
  return {
    strategy: 'environment',
    viable: () => Promise.resolve(true),
    async run(publish, signal) {
      publish(subnets.pruneCovered(cidrs));
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
}

/**
 * The source for a strategy. `auto` prefers node podCIDRs when viable and otherwise covers pod IPs; a failing
 * viability check (API error) counts as not viable, with a log line.
 */
export async function selectPodSubnetSource(
  strategy: PodCidrStrategy,
  configured: readonly string[],
  deps: PodSubnetDeps,
  signal: AbortSignal,
): Promise<PodSubnetSource> {
  const log = deps.log.child({ component: 'pod-subnets' });
  let chosen: PodSubnetSource;
  switch (strategy) {
    case 'environment':
      chosen = environmentSource(configured, deps.subnets);
      break;
    case 'coverPodIPs':
      chosen = coverPodIpsSource(deps);
      break;
    case 'nodePodCIDRs': {
      chosen = nodePodCidrsSource(deps);
      const ok = await chosen.viable(signal).catch((e: unknown) => {
        log.error({ err: String(e) }, 'cannot list nodes');
        return false;
      });
      if (!ok) {
        log.error(
          'podCIDRStrategy nodePodCIDRs is not viable here; pod subnets may be wrong: use coverPodIPs or environment',
        );
      }
      break;
    }
    case 'auto': {
      const nodes = nodePodCidrsSource(deps);
      const ok = await nodes.viable(signal).catch((e: unknown) => {
        log.warn({ err: String(e) }, 'cannot list nodes; falling back to pod IPs');
        return false;
      });
      chosen = ok ? nodes : coverPodIpsSource(deps);
      break;
    }
  }
  log.info({ podCIDRStrategy: strategy, source: chosen.strategy }, 'pod subnet source chosen');
  return chosen;
}
