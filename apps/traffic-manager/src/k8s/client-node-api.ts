// ClusterApi on @kubernetes/client-node (typed APIs for list/create/delete, Watch for watches).
import {
  ApiException,
  CoreV1Api,
  NetworkingV1Api,
  Watch,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';

import { KubeApiError, type ClusterApi, type ListWatchSource, type WatchEvent } from './cluster-api.js';

/** The API server's own message (Status.message) when there is one, so logs and parsing see real text. */
function toKubeApiError(e: unknown, what: string): unknown {
  if (e instanceof ApiException) {
    const code = e.code;
    let message = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    try {
      const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      if (
        typeof body === 'object' &&
        body !== null &&
        typeof (body as { message?: unknown }).message === 'string'
      ) {
        message = (body as { message: string }).message;
      }
    } catch {
      // Not JSON: keep the raw body as the message.
    }
    return new KubeApiError(code, `${what}: ${message} (HTTP ${code})`, { cause: e });
  }
  return e;
}

function watchSource<T>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
): ListWatchSource<T> {
  return {
    async list() {
      try {
        const result = await list();
        return { items: result.items, resourceVersion: result.metadata?.resourceVersion ?? '' };
      } catch (e) {
        throw toKubeApiError(e, `list ${path}`);
      }
    },
    watch(resourceVersion, onEvent, signal) {
      return new Promise<void>((resolve, reject) => {
        let controller: AbortController | undefined;
        let settled = false;
        const finish = (err?: unknown): void => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          controller?.abort();
          if (err === undefined || err === null) resolve();
          else reject(err instanceof Error ? err : new Error(String(err)));
        };
        const onAbort = (): void => finish();
        signal.addEventListener('abort', onAbort, { once: true });
        new Watch(kc)
          .watch(
            path,
            { resourceVersion, allowWatchBookmarks: true },
            (phase: string, obj: unknown) => {
              if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
                onEvent({ type: phase, object: obj as T } as WatchEvent<T>);
              } else if (phase === 'ERROR') {
                const status = obj as { code?: number; message?: string };
                finish(
                  new KubeApiError(status.code ?? 500, `watch ${path}: ${status.message ?? 'error event'}`),
                );
              }
            },
            (err: unknown) => finish(err),
          )
          .then(
            (c) => {
              controller = c;
              if (settled) c.abort();
            },
            (e: unknown) => finish(e),
          );
      });
    },
  };
}

export function createClientNodeApi(kc: KubeConfig): ClusterApi {
  const core = kc.makeApiClient(CoreV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  return {
    nodes: watchSource<V1Node>(kc, '/api/v1/nodes', () => core.listNode()),
    pods: watchSource<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces()),
    async createService(namespace, service) {
      try {
        await core.createNamespacedService({ namespace, body: service });
      } catch (e) {
        throw toKubeApiError(e, `create service ${namespace}/${service.metadata?.name ?? ''}`);
      }
    },
    async deleteService(namespace, name) {
      try {
        await core.deleteNamespacedService({ namespace, name });
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return;
        throw toKubeApiError(e, `delete service ${namespace}/${name}`);
      }
    },
    async namespaceUid(name) {
      try {
        return (await core.readNamespace({ name })).metadata?.uid ?? '';
      } catch (e) {
        throw toKubeApiError(e, `get namespace ${name}`);
      }
    },
    async listServiceCidrs() {
      try {
        const list = await networking.listServiceCIDR();
        return list.items.flatMap((s) => s.spec?.cidrs ?? []);
      } catch (e) {
        // Not served (older clusters): undefined. Forbidden is an error the caller logs (a chart RBAC problem).
        if (e instanceof ApiException && e.code === 404) return undefined;
        throw toKubeApiError(e, 'list servicecidrs');
      }
    },
  };
}
