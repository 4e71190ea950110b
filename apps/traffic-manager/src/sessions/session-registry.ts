import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import type { manager } from '@telepresence/rpc';

import type { Clock } from '../util/clock.js';

export type SessionKind = 'client' | 'agent';
export type SessionEndReason = 'expired' | 'departed' | 'shutdown';

/** Aborts a session's signal: watch streams of the session end with a status built from it. */
export class SessionEndedError extends Error {
  override readonly name = 'SessionEndedError';
  constructor(
    readonly sessionId: string,
    readonly reason: SessionEndReason,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown for calls naming a session the manager does not know (never existed, expired or departed). */
export class UnknownSessionError extends Error {
  override readonly name = 'UnknownSessionError';
  constructor(readonly sessionId: string) {
    super(
      `session "${sessionId}" is unknown to this traffic-manager (expired, departed or the manager restarted); arrive again`,
    );
  }
}

interface SessionBase {
  readonly id: string;
  readonly arrivedAtMs: number;
  lastSeenMs: number;
  /** Aborted, with a SessionEndedError as reason, when the session ends. */
  readonly signal: AbortSignal;
}

export interface ClientSession extends SessionBase {
  readonly kind: 'client';
  readonly client: manager.ClientInfo;
}

export interface AgentSession extends SessionBase {
  readonly kind: 'agent';
  readonly agent: manager.AgentInfo;
}

export type Session = ClientSession | AgentSession;

export interface SessionRegistryOptions {
  clock: Clock;
  log: Logger;
  clientTtlMs: number;
  agentTtlMs: number;
  newId?: () => string;
}

export type SessionListener = (event: 'arrived' | 'ended', session: Session) => void;

/**
 * Client and agent sessions with their liveness. A session lives while Remain arrives within its TTL
 * (client: long, default 24 h; agent: 15 s); `sweep()` ends the expired ones, `start()` runs it
 * periodically. Ending a session aborts its signal, which ends every stream that belongs to it.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, { session: Session; abort: AbortController }>();
  private readonly listeners = new Set<SessionListener>();
  private readonly log: Logger;
  private readonly newId: () => string;
  private sweepTimer: unknown;

  constructor(private readonly options: SessionRegistryOptions) {
    this.log = options.log.child({ component: 'sessions' });
    this.newId = options.newId ?? randomUUID;
  }

  arriveAsClient(client: manager.ClientInfo): ClientSession {
    const session = this.add((base) => ({ ...base, kind: 'client', client }), this.newId());
    this.log.info(
      { sessionId: session.id, name: client.name, namespace: client.namespace },
      'client arrived',
    );
    return session;
  }

  arriveAsAgent(agent: manager.AgentInfo): AgentSession {
    const session = this.add((base) => ({ ...base, kind: 'agent', agent }), `agent:${this.newId()}`);
    this.log.info(
      { sessionId: session.id, workload: agent.name, namespace: agent.namespace, pod: agent.podName },
      'agent arrived',
    );
    return session;
  }

  /** The live session, or UnknownSessionError. */
  get(id: string): Session {
    const entry = this.sessions.get(id);
    if (entry === undefined) {
      throw new UnknownSessionError(id);
    }
    return entry.session;
  }

  find(id: string): Session | undefined {
    return this.sessions.get(id)?.session;
  }

  remain(id: string): void {
    this.get(id).lastSeenMs = this.options.clock.now();
  }

  depart(id: string): void {
    this.end(id, 'departed', `session ${id} departed`);
  }

  clients(): ClientSession[] {
    return [...this.sessions.values()]
      .map((e) => e.session)
      .filter((s): s is ClientSession => s.kind === 'client');
  }

  agents(): AgentSession[] {
    return [...this.sessions.values()]
      .map((e) => e.session)
      .filter((s): s is AgentSession => s.kind === 'agent');
  }

  count(kind: SessionKind): number {
    let n = 0;
    for (const { session } of this.sessions.values()) if (session.kind === kind) n++;
    return n;
  }

  onChange(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends every session whose last Remain is older than its TTL; returns how many ended. */
  sweep(): number {
    const now = this.options.clock.now();
    let ended = 0;
    for (const { session } of [...this.sessions.values()]) {
      const ttlMs = session.kind === 'client' ? this.options.clientTtlMs : this.options.agentTtlMs;
      if (now - session.lastSeenMs > ttlMs) {
        this.end(
          session.id,
          'expired',
          `session ${session.id} expired: no Remain for ${Math.round((now - session.lastSeenMs) / 1000)} s (TTL ${ttlMs / 1000} s); arrive again`,
        );
        ended++;
      }
    }
    return ended;
  }

  /** Sweeps periodically: a fifth of the shortest TTL, at most every 5 s. */
  start(): void {
    const periodMs = Math.min(
      5000,
      Math.max(50, Math.min(this.options.clientTtlMs, this.options.agentTtlMs) / 5),
    );
    const tick = (): void => {
      this.sweep();
      this.sweepTimer = this.options.clock.setTimeout(tick, periodMs);
    };
    this.sweepTimer = this.options.clock.setTimeout(tick, periodMs);
  }

  /** Stops sweeping and ends every session with reason "shutdown". Idempotent. */
  close(): void {
    if (this.sweepTimer !== undefined) {
      this.options.clock.clearTimeout(this.sweepTimer);
      this.sweepTimer = undefined;
    }
    for (const id of [...this.sessions.keys()]) {
      this.end(id, 'shutdown', 'the traffic-manager is shutting down; arrive again when it is back');
    }
  }

  private add<S extends Session>(make: (base: SessionBase) => S, id: string): S {
    const abort = new AbortController();
    const now = this.options.clock.now();
    const session = make({ id, arrivedAtMs: now, lastSeenMs: now, signal: abort.signal });
    this.sessions.set(id, { session, abort });
    this.emit('arrived', session);
    return session;
  }

  private end(id: string, reason: SessionEndReason, message: string): void {
    const entry = this.sessions.get(id);
    if (entry === undefined) {
      return;
    }
    this.sessions.delete(id);
    entry.abort.abort(new SessionEndedError(id, reason, message));
    this.log.info({ sessionId: id, reason }, 'session ended');
    this.emit('ended', entry.session);
  }

  private emit(event: 'arrived' | 'ended', session: Session): void {
    for (const l of this.listeners) {
      try {
        l(event, session);
      } catch (e) {
        // A listener bug must not break session bookkeeping.
        this.log.error({ err: e }, 'session listener failed');
      }
    }
  }
}
