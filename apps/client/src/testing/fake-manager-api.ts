// A scripted traffic-manager for unit tests of the manager connection and the session: records every
// call in `calls` (shared with other fakes through `log`), hands out session ids s1, s2, ..., and lets
// the test push ClusterInfo, break or end the watch, and make calls fail.
import { status, type ServiceError } from '@grpc/grpc-js';
import { PassThrough } from 'node:stream';
import type { ManagerClient, common, manager } from '@telepresence/rpc';
import type { TunnelClient } from '@telepresence/tunnel';
import type { ClusterInfo, ManagerApi, SessionInfo } from '../manager/manager-api.js';

export function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: undefined as never,
  });
}

interface Watch {
  readonly session: string;
  push(ci: ClusterInfo): void;
  fail(e: unknown): void;
  end(): void;
}

export class FakeManagerApi implements ManagerApi {
  /** The generated client's streams the session's helpers open (reengage.ts): open, silent until cancelled. */
  readonly client = {
    watchIntercepts: () => {
      const stream = new PassThrough({ objectMode: true });
      return Object.assign(stream, { cancel: () => stream.end() });
    },
  } as unknown as ManagerClient;
  readonly tunnels = {} as TunnelClient;
  /** Errors thrown by the next call of each method (once). */
  readonly failNext = new Map<string, unknown>();
  /** Sent on every new watch before anything else, when set. */
  clusterInfo: ClusterInfo | undefined;
  private sessions = 0;
  private readonly watches: Watch[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(readonly calls: string[] = []) {}

  private record(call: string, method: string): void {
    this.calls.push(call);
    const e = this.failNext.get(method);
    if (e !== undefined) {
      this.failNext.delete(method);
      throw e;
    }
  }

  /** The open watches, newest last. */
  get openWatches(): readonly Watch[] {
    return this.watches;
  }

  /** Resolves when `n` watches have been opened in total. */
  async watchOpened(n: number): Promise<Watch> {
    while (this.opened < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.watches[this.watches.length - 1] as Watch;
  }

  private opened = 0;

  async waitForReady(): Promise<void> {
    this.record('waitForReady', 'waitForReady');
  }
  async connectTunnels(): Promise<void> {
    this.record('connectTunnels', 'connectTunnels');
  }
  async version(): Promise<manager.VersionResponse> {
    this.record('version', 'version');
    return {
      info: { name: 'traffic-manager', version: '9.9.9', tunnelVersion: 1 },
    } as manager.VersionResponse;
  }
  async arriveAsClient(info: manager.ClientInfo): Promise<SessionInfo> {
    this.record(`arrive ${info.namespace}`, 'arrive');
    return { sessionId: `s${++this.sessions}`, clusterId: 'c' } as SessionInfo;
  }
  async remain(session: SessionInfo): Promise<void> {
    this.record(`remain ${session.sessionId}`, 'remain');
  }
  async depart(session: SessionInfo): Promise<void> {
    this.record(`depart ${session.sessionId}`, 'depart');
  }
  /** Never asks for a dial; ends when the signal aborts. */
  watchDial(session: SessionInfo, signal: AbortSignal): AsyncIterable<common.DialRequest> {
    this.calls.push(`watch dial ${session.sessionId}`);
    return {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          new Promise<IteratorResult<common.DialRequest>>((resolve) =>
            signal.aborted
              ? resolve({ done: true, value: undefined })
              : signal.addEventListener('abort', () => resolve({ done: true, value: undefined }), {
                  once: true,
                }),
          ),
      }),
    };
  }
  async lookupDns(): Promise<common.DNSAnswer> {
    return { rcode: 3, records: [] };
  }
  close(): void {
    this.calls.push('api close');
  }

  watchClusterInfo(session: SessionInfo, signal: AbortSignal): AsyncIterable<ClusterInfo> {
    this.record(`watch ${session.sessionId}`, 'watch');
    const queue: ({ ci: ClusterInfo } | { error: unknown } | { end: true })[] = [];
    let wake: (() => void) | undefined;
    const add = (item: (typeof queue)[number]): void => {
      queue.push(item);
      wake?.();
    };
    const watch: Watch = {
      session: session.sessionId,
      push: (ci) => add({ ci }),
      fail: (error) => add({ error }),
      end: () => add({ end: true }),
    };
    this.watches.push(watch);
    this.opened++;
    for (const w of this.waiters.splice(0)) w();
    if (this.clusterInfo !== undefined) watch.push(this.clusterInfo);
    const calls = this.calls;
    const watches = this.watches;
    return {
      async *[Symbol.asyncIterator]() {
        const onAbort = (): void => wake?.();
        signal.addEventListener('abort', onAbort);
        try {
          for (;;) {
            if (signal.aborted) {
              calls.push(`watch ${session.sessionId} cancelled`);
              return;
            }
            const item = queue.shift();
            if (item === undefined) {
              await new Promise<void>((r) => (wake = r));
              continue;
            }
            if ('ci' in item) yield item.ci;
            else if ('error' in item) throw item.error;
            else return;
          }
        } finally {
          signal.removeEventListener('abort', onAbort);
          watches.splice(watches.indexOf(watch), 1);
        }
      },
    };
  }
}

export const UNAVAILABLE = (): ServiceError => grpcError(status.UNAVAILABLE, 'connection refused');
export const SESSION_GONE = (): ServiceError => grpcError(status.NOT_FOUND, 'session expired');

/** Yields to pending callbacks until `check` holds (a test's timeout bounds it). */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}
