// The small slice of the Kubernetes API the manager uses, behind an interface so discovery logic is tested
// with in-memory fakes; k8s/client-node-api.ts implements it with @kubernetes/client-node.
import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';

export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: T;
}

export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

/** A listable, watchable collection (what an informer needs). */
export interface ListWatchSource<T> {
  list(signal: AbortSignal): Promise<ListResult<T>>;
  /**
   * Delivers events after resourceVersion until the server ends the watch (resolves) or it fails (rejects,
   * e.g. 410 Gone). The caller relists after either.
   */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

/** An API error with its HTTP status and the server's message (from the Status body). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly statusCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ClusterApi {
  readonly nodes: ListWatchSource<V1Node>;
  readonly pods: ListWatchSource<V1Pod>;
  /** Rejects with KubeApiError on an API error. */
  createService(namespace: string, service: V1Service, signal: AbortSignal): Promise<void>;
  /** Resolves also when the Service does not exist. */
  deleteService(namespace: string, name: string, signal: AbortSignal): Promise<void>;
  /** The UID of a namespace (the cluster id is the UID of "default", as in the original). */
  namespaceUid(name: string, signal: AbortSignal): Promise<string>;
  /** The CIDRs of the cluster's ServiceCIDR objects, or undefined when networking.k8s.io/v1 ServiceCIDR is not served. */
  listServiceCidrs(signal: AbortSignal): Promise<string[] | undefined>;
}
