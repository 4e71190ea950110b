// Keeps this client's intercepts (engagements) across sessions. The traffic-manager keeps intercepts in
// memory and ends them with the session that made them, so a restarted manager (or an expired session)
// forgets them. As in the Go original, the client recovers by arriving again and re-creating what it
// had: the keeper remembers every intercept the user made (until `leave`), watches the manager's view of
// this client's intercepts, and re-creates on the current session each one the manager does not have.
// The watch also tells when the set of intercepts changes (DNS answers from agents are then stale) and
// gives status its intercept lines.
import { Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { manager } from '@telepresence/rpc';
import {
  unaryCall,
  type CallMetadata,
  type ManagerClient,
  type common,
  type daemon,
} from '@telepresence/rpc';
import { Backoff } from '@telepresence/tunnel';

import { RECREATING, stateName } from './states.js';

export { RECREATING };

export interface EngagementKeeperDeps {
  readonly client: () => ManagerClient;
  /** The current session, or undefined while there is none. */
  readonly session: () => common.SessionInfo | undefined;
  readonly log: Logger;
  /** Called when the set of this client's intercepts (or their states) changes. */
  readonly onChange?: () => void;
  readonly retryMs?: { initial: number; max: number };
  readonly callTimeoutMs?: number;
  /** Metadata for every call (credentials), as the session's manager connection sends. */
  readonly callMetadata?: CallMetadata;
}

interface Engagement {
  readonly spec: manager.InterceptSpec;
  /** The session the manager holds it for; '' when it must be re-created. */
  sessionId: string;
  /** Why re-creating failed last, for status and list. */
  error: string;
}

/** A key that changes when an intercept appears, goes, or changes state. */
function snapshotKey(intercepts: readonly manager.InterceptInfo[]): string {
  return intercepts
    .map((i) => `${i.spec?.name ?? ''}=${i.state}:${i.podNames.join(',')}`)
    .sort()
    .join(' ');
}

export class EngagementKeeper {
  private readonly wanted = new Map<string, Engagement>();
  private snapshot: manager.InterceptInfo[] = [];
  /** The session the snapshot belongs to. */
  private snapshotSession = '';
  private snapshotKey = '';
  /** A watch is open and has delivered the manager's view. */
  private live = false;
  private call: ClientReadableStream<manager.InterceptSnapshot> | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private creating = false;
  private stopped = true;
  private readonly retry: { initial: number; max: number };
  private readonly log: Logger;

  constructor(private readonly deps: EngagementKeeperDeps) {
    this.retry = deps.retryMs ?? { initial: 100, max: 2000 };
    this.backoff = new Backoff({ initialMs: this.retry.initial, maxMs: this.retry.max, multiplier: 2 });
    this.log = deps.log.child({ component: 'engagements' });
  }

  start(): void {
    this.stopped = false;
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.watchTimer);
    clearTimeout(this.retryTimer);
    const c = this.call;
    this.call = undefined;
    c?.cancel();
  }

  /** The user made this intercept on this session. */
  remember(spec: manager.InterceptSpec, sessionId: string): void {
    this.wanted.set(spec.name, { spec, sessionId, error: '' });
  }

  /** The user left it. */
  forget(name: string): void {
    this.wanted.delete(name);
  }

  /** The session changed (arrived again): watch on the new one now rather than after the backoff. */
  sessionChanged(): void {
    if (this.stopped) return;
    const c = this.call;
    this.call = undefined;
    this.live = false;
    c?.cancel();
    clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    this.backoff.reset();
    this.watch();
  }

  /** The manager's view of an intercept on the current session, if it has it. */
  private held(name: string): manager.InterceptInfo | undefined {
    const session = this.deps.session()?.sessionId;
    if (session === undefined || session !== this.snapshotSession) return undefined;
    return this.snapshot.find((i) => i.spec?.name === name);
  }

  /** Every intercept the user made, with the manager's state, or RE-CREATING while it does not have it. */
  lines(): daemon.InterceptLine[] {
    const session = this.deps.session()?.sessionId;
    return [...this.wanted.values()]
      .map((e): daemon.InterceptLine => {
        const info = this.live ? this.held(e.spec.name) : undefined;
        let state: string;
        let message: string;
        if (info !== undefined) {
          state = stateName(info.state);
          message = info.message;
        } else if (!this.live) {
          state = RECREATING;
          message = `the traffic-manager is unreachable; the intercept is made again when it is back${e.error === '' ? '' : ` (last try: ${e.error})`}`;
        } else if (e.sessionId !== session) {
          state = RECREATING;
          message = `the traffic-manager lost it (restarted, or the session expired); re-creating${e.error === '' ? '' : `: ${e.error}`}`;
        } else {
          state = 'WAITING';
          message = 'the traffic-manager has not reported it yet';
        }
        return {
          name: e.spec.name,
          workload: e.spec.workload,
          namespace: e.spec.namespace,
          servicePort: e.spec.servicePort,
          localPort: e.spec.localPort,
          localOnly: e.spec.localOnly,
          state,
          message,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private watch(): void {
    this.watchTimer = undefined;
    if (this.stopped) return;
    const session = this.deps.session();
    if (session === undefined) {
      this.scheduleWatch();
      return;
    }
    if (this.deps.callMetadata === undefined) return this.openWatch(session, new Metadata());
    void Promise.resolve(this.deps.callMetadata()).then(
      (meta) => this.openWatch(session, meta),
      (e: Error) => {
        this.log.debug({ err: e.message }, 'no call metadata yet; watching again');
        this.scheduleWatch();
      },
    );
  }

  private openWatch(session: common.SessionInfo, meta: Metadata): void {
    if (this.stopped) return;
    const c = this.deps.client().watchIntercepts({ session }, meta);
    this.call = c;
    c.on('data', (snap: manager.InterceptSnapshot) => {
      this.backoff.reset();
      this.live = true;
      this.onSnapshot(session.sessionId, snap.intercepts);
    });
    const ended = (why: string): void => {
      if (this.call !== c) return;
      this.call = undefined;
      this.live = false;
      if (!this.stopped) {
        this.log.debug({ why }, 'WatchIntercepts ended; watching again');
        this.scheduleWatch();
      }
    };
    c.on('error', (e: Error) => ended(e.message));
    c.on('end', () => ended('end'));
  }

  private scheduleWatch(): void {
    if (this.stopped || this.watchTimer !== undefined) return;
    this.watchTimer = setTimeout(() => this.watch(), this.backoff.next());
    this.watchTimer.unref();
  }

  private onSnapshot(sessionId: string, intercepts: manager.InterceptInfo[]): void {
    this.snapshot = intercepts;
    this.snapshotSession = sessionId;
    const key = snapshotKey(intercepts);
    if (key !== this.snapshotKey) {
      this.snapshotKey = key;
      this.deps.onChange?.();
    }
    void this.reengage();
  }

  /** Re-creates, on the current session, each wanted intercept that the manager holds for an older one. */
  private async reengage(): Promise<void> {
    if (this.creating || this.stopped) return;
    const session = this.deps.session();
    if (session === undefined || session.sessionId !== this.snapshotSession) return;
    const missing = [...this.wanted.values()].filter(
      (e) => e.sessionId !== session.sessionId && this.held(e.spec.name) === undefined,
    );
    if (missing.length === 0) return;
    this.creating = true;
    let failed = false;
    try {
      for (const e of missing) {
        if (this.wanted.get(e.spec.name) !== e) continue; // left meanwhile
        try {
          await this.create(session, e.spec);
          e.sessionId = session.sessionId;
          e.error = '';
          this.log.info(
            { intercept: e.spec.name, session: session.sessionId },
            're-created the intercept on the traffic-manager',
          );
        } catch (err) {
          const se = err as Partial<ServiceError>;
          failed = true;
          e.error = se.details ?? (err instanceof Error ? err.message : String(err));
          this.log.warn({ intercept: e.spec.name, err: e.error }, 'cannot re-create the intercept yet');
        }
      }
    } finally {
      this.creating = false;
    }
    if (failed && !this.stopped) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.reengage(), this.retry.max);
      this.retryTimer.unref();
    }
  }

  private async create(session: common.SessionInfo, spec: manager.InterceptSpec): Promise<void> {
    const client = this.deps.client();
    await unaryCall(
      client,
      client.createIntercept,
      { session, spec },
      {
        timeoutMs: this.deps.callTimeoutMs ?? 30_000,
        metadata: this.deps.callMetadata,
      },
    );
  }
}
