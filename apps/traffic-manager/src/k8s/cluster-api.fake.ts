// In-memory ClusterApi for tests: collections you mutate, watches that see the changes, injectable failures.
import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';

import { KubeApiError, type ClusterApi, type ListWatchSource, type WatchEvent } from './cluster-api.js';

export class FakeCollection<T> implements ListWatchSource<T> {
  private readonly items = new Map<string, T>();
  private readonly watchers = new Set<{ onEvent: (e: WatchEvent<T>) => void; end: (err?: Error) => void }>();
  private rv = 1;
  /** Errors thrown by the next list calls, in order. */
  readonly listFailures: Error[] = [];
  listCalls = 0;

  constructor(private readonly keyOf: (item: T) => string) {}

  set(item: T): void {
    const key = this.keyOf(item);
    const type = this.items.has(key) ? 'MODIFIED' : 'ADDED';
    this.items.set(key, item);
    this.rv++;
    for (const w of this.watchers) w.onEvent({ type, object: item });
  }

  delete(key: string): void {
    const item = this.items.get(key);
    if (item === undefined) return;
    this.items.delete(key);
    this.rv++;
    for (const w of this.watchers) w.onEvent({ type: 'DELETED', object: item });
  }

  /** Ends every open watch with an error (as a 410 Gone or a dropped connection would). */
  breakWatches(err = new KubeApiError(410, 'too old resource version')): void {
    for (const w of [...this.watchers]) w.end(err);
  }

  get watching(): number {
    return this.watchers.size;
  }

  list(): Promise<{ items: T[]; resourceVersion: string }> {
    this.listCalls++;
    const failure = this.listFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    return Promise.resolve({ items: [...this.items.values()], resourceVersion: String(this.rv) });
  }

  watch(_rv: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = {
        onEvent,
        end: (err?: Error) => {
          this.watchers.delete(w);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve();
        },
      };
      const onAbort = (): void => w.end();
      this.watchers.add(w);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface FakeClusterApiOptions {
  /** The range the fake API server reports for an out-of-range clusterIP (undefined: answer without one). */
  serviceRange?: string | undefined;
  /** ServiceCIDR objects' CIDRs; undefined = the API is not served. */
  serviceCidrs?: string[] | undefined;
  /** Accept any clusterIP (the dummy Service gets created). */
  acceptAnyClusterIp?: boolean;
}

export class FakeClusterApi implements ClusterApi {
  readonly nodes = new FakeCollection<V1Node>((n) => n.metadata?.name ?? '');
  readonly pods = new FakeCollection<V1Pod>(
    (p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`,
  );
  readonly services = new Map<string, V1Service>();
  readonly calls: string[] = [];

  constructor(private readonly options: FakeClusterApiOptions = {}) {}

  createService(namespace: string, service: V1Service): Promise<void> {
    const name = service.metadata?.name ?? '';
    this.calls.push(`create ${namespace}/${name}`);
    if (this.services.has(`${namespace}/${name}`)) {
      return Promise.reject(new KubeApiError(409, `services "${name}" already exists`));
    }
    if (!this.options.acceptAnyClusterIp && service.spec?.clusterIP !== undefined) {
      const ip = service.spec.clusterIP;
      const range = this.options.serviceRange;
      return Promise.reject(
        new KubeApiError(
          422,
          `Service "${name}" is invalid: spec.clusterIPs: Invalid value: ["${ip}"]: failed to allocate IP ${ip}: ` +
            (range === undefined
              ? 'the allocator is broken'
              : `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${range}`),
        ),
      );
    }
    this.services.set(`${namespace}/${name}`, service);
    return Promise.resolve();
  }

  deleteService(namespace: string, name: string): Promise<void> {
    this.calls.push(`delete ${namespace}/${name}`);
    this.services.delete(`${namespace}/${name}`);
    return Promise.resolve();
  }

  namespaceUid(name: string): Promise<string> {
    return Promise.resolve(`uid-of-${name}`);
  }

  listServiceCidrs(): Promise<string[] | undefined> {
    return Promise.resolve(this.options.serviceCidrs);
  }
}

export function fakeNode(name: string, ...podCidrs: string[]): V1Node {
  return { metadata: { name }, spec: { podCIDR: podCidrs[0], podCIDRs: podCidrs } } as V1Node;
}

export function fakePod(
  namespace: string,
  name: string,
  ip: string,
  options: { hostNetwork?: boolean; phase?: string } = {},
): V1Pod {
  return {
    metadata: { namespace, name, uid: `${namespace}-${name}` },
    spec: { hostNetwork: options.hostNetwork ?? false, containers: [] },
    status: { phase: options.phase ?? 'Running', podIP: ip, podIPs: [{ ip }] },
  } as V1Pod;
}
