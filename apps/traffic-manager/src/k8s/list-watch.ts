import type { Logger } from 'pino';

import { Backoff, sleep } from '@telepresence/tunnel';
import type { ListWatchSource, WatchEvent } from './cluster-api.js';

export interface ListWatchHandlers<T> {
  /** The full current set, after every (re)list. */
  reset(items: readonly T[]): void;
  event(event: WatchEvent<T>): void;
}

/**
 * Keeps a handler in sync with a collection until the signal aborts, like an informer: list, then watch;
 * relist when the watch ends; back off (with jitter) after API errors and log each one once.
 */
export async function runListWatch<T>(
  source: ListWatchSource<T>,
  handlers: ListWatchHandlers<T>,
  options: { log: Logger; what: string; signal: AbortSignal; backoff?: Backoff },
): Promise<void> {
  const { log, what, signal } = options;
  const backoff = options.backoff ?? new Backoff({ initialMs: 500, maxMs: 30_000 });
  while (!signal.aborted) {
    try {
      const listed = await source.list(signal);
      handlers.reset(listed.items);
      backoff.reset();
      await source.watch(listed.resourceVersion, (e) => handlers.event(e), signal);
      log.debug({ what }, 'watch ended; relisting');
    } catch (e) {
      if (signal.aborted) {
        break;
      }
      const delayMs = backoff.next();
      log.warn(
        { what, err: e instanceof Error ? e.message : String(e), retryInMs: delayMs },
        'list/watch failed; retrying',
      );
      await sleep(delayMs, signal);
    }
  }
}
