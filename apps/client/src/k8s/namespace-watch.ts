// The mapped namespaces (issue 18 item 1): as in the original, every namespace the user may list is
// mapped (`<svc>.<ns>` resolves in the cluster), following the cluster: a namespace created after connect
// is mapped when it appears, a deleted one stops. `--mapped-namespaces` / `cluster.mappedNamespaces`
// narrows the set to those of its names that exist. The watch runs with the user's own kubeconfig
// credentials; a user who may not list namespaces gets the connected namespace plus the narrowing list,
// and the reason says so (status shows it).
import { ApiException, CoreV1Api, Watch, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { apiMessage, explainNetworkCode, isForbidden, networkCode } from './api-errors.js';
import { reportIfUnauthorized } from './refreshed-kubeconfig.js';

export interface MappedNamespaces {
  /** Sorted, unique. */
  readonly namespaces: readonly string[];
  /** Why the set is what it is (one phrase, shown by status). */
  readonly reason: string;
}

/** List then watch of namespace names; tests use a fake. */
export interface NamespaceSource {
  list(): Promise<{ names: string[]; resourceVersion: string }>;
  /** Resolves when the watch ends; rejects on an error. Stops when the signal aborts. */
  watch(
    resourceVersion: string,
    onEvent: (type: 'ADDED' | 'DELETED', name: string) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

export interface NamespaceWatchOptions {
  readonly source: NamespaceSource;
  /** The connected namespace. */
  readonly connected: string;
  /** --mapped-namespaces / cluster.mappedNamespaces; empty = all the user may list. */
  readonly narrowTo: readonly string[];
  readonly log: Logger;
  /** Called with the new set whenever it changes (not for the first one, which start() returns). */
  readonly onChange: (mapped: MappedNamespaces) => void;
  readonly retryMs?: { initial: number; max: number };
  /** How long connect waits for the first list before going on with the fallback set. Default 5 s. */
  readonly firstListTimeoutMs?: number;
}

function errorText(e: unknown): string {
  if (e instanceof ApiException) return apiMessage(e);
  const code = networkCode(e);
  const known = code === undefined ? undefined : explainNetworkCode(code);
  if (known !== undefined) return `the API server: ${known.cause}`;
  return e instanceof Error ? e.message : String(e);
}

const sorted = (names: Iterable<string>): string[] => [...new Set(names)].sort();

export class NamespaceWatch {
  private readonly existing = new Set<string>();
  private mapped: MappedNamespaces = { namespaces: [], reason: '' };
  private readonly abort = new AbortController();
  private readonly retry: { initial: number; max: number };

  private constructor(private readonly options: NamespaceWatchOptions) {
    this.retry = options.retryMs ?? { initial: 500, max: 10_000 };
  }

  /**
   * Lists the namespaces once (so the first DNS configuration is complete) and keeps watching. Never
   * throws: without permission to list, the fallback set is returned.
   */
  static async start(options: NamespaceWatchOptions): Promise<NamespaceWatch> {
    const w = new NamespaceWatch(options);
    const timeoutMs = options.firstListTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const first = await Promise.race([
        options.source.list(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      w.reset(first.names, false);
      void w.run(first.resourceVersion);
    } catch (e) {
      w.mapped = w.fallback(e);
      options.log.warn({ err: errorText(e), mapped: w.mapped.namespaces }, 'cannot list namespaces');
      // Forbidden stays forbidden for this session; anything else is retried by the watch loop.
      if (!isForbidden(e)) void w.run(undefined);
    } finally {
      clearTimeout(timer);
    }
    return w;
  }

  current(): MappedNamespaces {
    return this.mapped;
  }

  stop(): void {
    this.abort.abort();
  }

  private fallback(e: unknown): MappedNamespaces {
    const extra = this.options.narrowTo.length > 0 ? ' and --mapped-namespaces are' : ' is';
    return {
      namespaces: sorted([this.options.connected, ...this.options.narrowTo]),
      reason: isForbidden(e)
        ? `you may not list namespaces (${errorText(e)}): only the connected namespace${extra} mapped`
        : `namespaces could not be listed (${errorText(e)}): only the connected namespace${extra} mapped until they can`,
    };
  }

  /** The mapped set for the namespaces that exist now. */
  private compute(): MappedNamespaces {
    const narrow = this.options.narrowTo;
    if (narrow.length === 0)
      return {
        namespaces: sorted(this.existing),
        reason: 'all namespaces you may list (followed as they are created and deleted)',
      };
    const missing = narrow.filter((n) => !this.existing.has(n));
    return {
      namespaces: sorted(narrow.filter((n) => this.existing.has(n))),
      reason: `narrowed by --mapped-namespaces / cluster.mappedNamespaces${missing.length === 0 ? '' : ` (not existing: ${sorted(missing).join(', ')})`}`,
    };
  }

  private reset(names: readonly string[], notify: boolean): void {
    this.existing.clear();
    for (const n of names) this.existing.add(n);
    this.update(notify);
  }

  private update(notify = true): void {
    const next = this.compute();
    const same =
      next.reason === this.mapped.reason &&
      next.namespaces.length === this.mapped.namespaces.length &&
      next.namespaces.every((n, i) => n === this.mapped.namespaces[i]);
    this.mapped = next;
    if (!same && notify) this.options.onChange(next);
  }

  /** Watch, and list again whenever the watch ends or fails (with a backoff). */
  private async run(resourceVersion: string | undefined): Promise<void> {
    const signal = this.abort.signal;
    let rv = resourceVersion;
    let delay = this.retry.initial;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          const listed = await this.options.source.list();
          this.reset(listed.names, true);
          rv = listed.resourceVersion;
        }
        await this.options.source.watch(
          rv,
          (type, name) => {
            if (type === 'ADDED') this.existing.add(name);
            else this.existing.delete(name);
            this.update();
          },
          signal,
        );
        delay = this.retry.initial;
      } catch (e) {
        if (signal.aborted) return;
        this.options.log.warn({ err: errorText(e), retryInMs: delay }, 'namespace watch failed; retrying');
        await new Promise<void>((r) => setTimeout(r, delay).unref());
        delay = Math.min(this.retry.max, delay * 2);
      }
      rv = undefined; // the watch ended: list again (nothing missed in between)
    }
  }
}

/** The real source: client-node list and watch of /api/v1/namespaces with the user's kubeconfig. */
export function kubeNamespaceSource(kc: KubeConfig): NamespaceSource {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async list() {
      const r = await core.listNamespace().catch((e: unknown) => {
        reportIfUnauthorized(kc, e);
        throw e;
      });
      return {
        names: r.items.map((n) => n.metadata?.name ?? '').filter((n) => n !== ''),
        resourceVersion: r.metadata?.resourceVersion ?? '',
      };
    },
    watch(resourceVersion, onEvent, signal) {
      return new Promise<void>((resolve, reject) => {
        let controller: AbortController | undefined;
        let settled = false;
        const finish = (err?: unknown): void => {
          if (settled) return;
          settled = true;
          reportIfUnauthorized(kc, err);
          signal.removeEventListener('abort', onAbort);
          controller?.abort();
          if (err === undefined || err === null) resolve();
          else reject(err instanceof Error ? err : new Error(String(err)));
        };
        const onAbort = (): void => finish();
        signal.addEventListener('abort', onAbort, { once: true });
        new Watch(kc)
          .watch(
            '/api/v1/namespaces',
            { resourceVersion },
            (phase: string, obj: unknown) => {
              const name = (obj as V1Namespace).metadata?.name ?? '';
              if ((phase === 'ADDED' || phase === 'MODIFIED') && name !== '') onEvent('ADDED', name);
              else if (phase === 'DELETED' && name !== '') onEvent('DELETED', name);
              else if (phase === 'ERROR')
                finish(
                  new Error(`watch namespaces: ${(obj as { message?: string }).message ?? 'error event'}`),
                );
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
