// The daemon side of `telepresence list / intercept / leave`: thin calls to the manager's workload and
// intercept API, with the manager's refusals turned into one-line user errors.
import { status, type ServiceError } from '@grpc/grpc-js';

import {
  manager,
  serverStream,
  unaryCall,
  type CallMetadata,
  type ManagerClient,
  type common,
  type daemon,
} from '@telepresence/rpc';

import { TpError } from '../util/errors.js';
import type { EngagementKeeper } from './reengage.js';
import { RECREATING, stateName } from './states.js';

export { stateName };

export interface InterceptDeps {
  readonly client: () => ManagerClient;
  readonly session: () => common.SessionInfo | undefined;
  /** The connected namespace. */
  readonly namespace: () => string;
  /** How long `intercept` waits for the workload's agent before answering WAITING. */
  readonly waitActiveMs?: number;
  readonly callTimeoutMs?: number;
  /** Remembers the user's intercepts so that they are re-created on a new session (reengage.ts). */
  readonly engagements?: () => EngagementKeeper;
  /** Called after this client's intercepts changed (cached DNS answers from agents are then stale). */
  readonly onChange?: () => void;
  /** Metadata for every call (credentials), as the session's manager connection sends. */
  readonly callMetadata?: CallMetadata;
}

/** A manager refusal as a user-facing error: its own message, categorised. */
export function fromManagerError(e: unknown, what: string): TpError {
  const err = e as Partial<ServiceError>;
  const details = err.details ?? (e instanceof Error ? e.message : String(e));
  switch (err.code) {
    case status.INVALID_ARGUMENT:
    case status.ALREADY_EXISTS:
    case status.FAILED_PRECONDITION:
    case status.NOT_FOUND:
      return new TpError('user', details, { cause: e });
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      // The manager's message names the missing permission (or why the identity was not accepted).
      return new TpError('cluster', `${what}: ${details}`, { cause: e });
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return new TpError('cluster', `${what}: the traffic-manager did not answer (${details})`, {
        hint: 'check `telepresence status`',
        cause: e,
      });
    default:
      return new TpError('internal', `${what}: ${details}`, { cause: e });
  }
}

export class InterceptController {
  constructor(private readonly deps: InterceptDeps) {}

  private sessionOrThrow(): common.SessionInfo {
    const s = this.deps.session();
    if (s === undefined)
      throw new TpError('user', 'not connected to the traffic-manager', { hint: 'run telepresence connect' });
    return s;
  }

  private async unary<Req, Res>(method: string, req: Req, what: string): Promise<Res> {
    const client = this.deps.client();
    const fn = (client as unknown as Record<string, unknown>)[method];
    try {
      return await unaryCall<Req, Res>(client, fn, req, {
        timeoutMs: this.deps.callTimeoutMs ?? 30_000,
        metadata: this.deps.callMetadata,
      });
    } catch (e) {
      throw fromManagerError(e, what);
    }
  }

  /** The workloads of a namespace (default: the connected one) with their intercepts. */
  async list(namespace = ''): Promise<daemon.ListResponse> {
    const session = this.sessionOrThrow();
    const ns = namespace === '' ? this.deps.namespace() : namespace;
    const res = await this.unary<manager.ListWorkloadsRequest, manager.ListWorkloadsResponse>(
      'listWorkloads',
      { session, namespace: ns },
      'list',
    );
    // Intercepts the manager lost (restart) show as RE-CREATING until the keeper has them back.
    const recreating = (this.deps.engagements?.().lines() ?? []).filter(
      (l) => l.state === RECREATING && l.namespace === ns,
    );
    return {
      workloads: res.workloads.map((w) => {
        const mine = w.intercepts.find((i) => i.clientSessionId === session.sessionId) ?? w.intercepts[0];
        const lost =
          mine?.clientSessionId === session.sessionId
            ? undefined
            : recreating.find((l) => l.workload === w.name);
        if (lost !== undefined)
          return {
            name: w.name,
            namespace: w.namespace,
            agent: w.agents.length > 0,
            interceptState: RECREATING,
            interceptMessage: lost.message,
          };
        return {
          name: w.name,
          namespace: w.namespace,
          agent: w.agents.length > 0,
          interceptState:
            mine === undefined
              ? ''
              : `${stateName(mine.state)}${mine.clientSessionId === session.sessionId ? '' : ' (another client)'}`,
          interceptMessage: mine?.message ?? '',
        };
      }),
    };
  }

  async intercept(req: daemon.InterceptRequest): Promise<daemon.InterceptResponse> {
    const session = this.sessionOrThrow();
    if (req.workload === '')
      throw new TpError('user', 'intercept needs a workload name', { hint: 'see telepresence list' });
    if (!Number.isInteger(req.localPort) || req.localPort < 1 || req.localPort > 65535)
      throw new TpError('user', `local port ${req.localPort} is not a port number`, {
        hint: 'use --port LOCAL[:SERVICE_PORT], e.g. --port 8080:http',
      });
    const spec: manager.InterceptSpec = {
      name: req.name === '' ? req.workload : req.name,
      workload: req.workload,
      namespace: req.namespace === '' ? this.deps.namespace() : req.namespace,
      servicePort: req.servicePort,
      localPort: req.localPort,
      localOnly: req.localOnly,
    };
    const created = await this.unary<manager.CreateInterceptRequest, manager.CreateInterceptResponse>(
      'createIntercept',
      { session, spec },
      'intercept',
    );
    this.deps.engagements?.().remember(spec, session.sessionId);
    this.deps.onChange?.();
    let info = created.intercept;
    if (info !== undefined && info.state !== manager.InterceptState.INTERCEPT_STATE_ACTIVE)
      info = (await this.waitActive(session, spec.name)) ?? info;
    return {
      name: spec.name,
      state: info === undefined ? 'UNKNOWN' : stateName(info.state),
      message: info?.message ?? '',
    };
  }

  /** Waits (bounded) for the intercept to become ACTIVE: the workload rolls and its agent arrives. */
  private async waitActive(
    session: common.SessionInfo,
    name: string,
  ): Promise<manager.InterceptInfo | undefined> {
    const client = this.deps.client();
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.deps.waitActiveMs ?? 60_000);
    let last: manager.InterceptInfo | undefined;
    try {
      const snapshots = serverStream<manager.InterceptSnapshot>(
        (m) => client.watchIntercepts({ session }, m),
        ctl.signal,
        this.deps.callMetadata,
      );
      for await (const snap of snapshots) {
        last = snap.intercepts.find((i) => i.spec?.name === name) ?? last;
        if (last?.state === manager.InterceptState.INTERCEPT_STATE_ACTIVE) break;
      }
    } catch {
      // the watch broke: answer with what we know
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
    return last;
  }

  async leave(name: string): Promise<void> {
    const session = this.sessionOrThrow();
    if (name === '')
      throw new TpError('user', 'leave needs the intercept name', { hint: 'see telepresence list' });
    try {
      await this.unary<manager.RemoveInterceptRequest, manager.RemoveInterceptResponse>(
        'removeIntercept',
        { session, name },
        'leave',
      );
    } catch (e) {
      // One the manager lost (restart) and not re-created yet: leaving it means not re-creating it.
      const lost = this.deps
        .engagements?.()
        .lines()
        .some((l) => l.name === name && l.state === RECREATING);
      if (lost !== true) throw e;
    } finally {
      this.deps.onChange?.();
    }
    this.deps.engagements?.().forget(name);
  }
}
