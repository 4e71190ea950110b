// The daemon side of `telepresence list / intercept / leave`: thin calls to the manager's workload and
// intercept API, with the manager's refusals turned into one-line user errors.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import { manager, type ManagerClient, type common, type daemon } from '@telepresence/rpc';

import { TpError } from '../util/errors.js';

export interface InterceptDeps {
  readonly client: () => ManagerClient;
  readonly session: () => common.SessionInfo | undefined;
  /** The connected namespace. */
  readonly namespace: () => string;
  /** How long `intercept` waits for the workload's agent before answering WAITING. */
  readonly waitActiveMs?: number;
  readonly callTimeoutMs?: number;
}

const STATE_NAMES: Record<number, string> = {
  [manager.InterceptState.INTERCEPT_STATE_WAITING]: 'WAITING',
  [manager.InterceptState.INTERCEPT_STATE_ACTIVE]: 'ACTIVE',
  [manager.InterceptState.INTERCEPT_STATE_BROKEN]: 'BROKEN',
};

export function stateName(s: manager.InterceptState): string {
  return STATE_NAMES[s] ?? 'UNKNOWN';
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

  private unary<Req, Res>(method: string, req: Req, what: string): Promise<Res> {
    const client = this.deps.client();
    const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
    return new Promise<Res>((resolve, reject) => {
      fn.call(
        client,
        req,
        new Metadata(),
        { deadline: new Date(Date.now() + (this.deps.callTimeoutMs ?? 30_000)) },
        (err: ServiceError | null, res: Res) => (err ? reject(fromManagerError(err, what)) : resolve(res)),
      );
    });
  }

  async list(): Promise<daemon.ListResponse> {
    const session = this.sessionOrThrow();
    const res = await this.unary<manager.ListWorkloadsRequest, manager.ListWorkloadsResponse>(
      'listWorkloads',
      { session, namespace: this.deps.namespace() },
      'list',
    );
    return {
      workloads: res.workloads.map((w) => {
        const mine = w.intercepts.find((i) => i.clientSessionId === session.sessionId) ?? w.intercepts[0];
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
  private waitActive(session: common.SessionInfo, name: string): Promise<manager.InterceptInfo | undefined> {
    return new Promise((resolve) => {
      const call = this.deps.client().watchIntercepts({ session });
      let last: manager.InterceptInfo | undefined;
      const done = (): void => {
        clearTimeout(timer);
        call.cancel();
        resolve(last);
      };
      const timer = setTimeout(done, this.deps.waitActiveMs ?? 60_000);
      call.on('data', (snap: manager.InterceptSnapshot) => {
        last = snap.intercepts.find((i) => i.spec?.name === name) ?? last;
        if (last?.state === manager.InterceptState.INTERCEPT_STATE_ACTIVE) done();
      });
      call.on('error', done);
      call.on('end', done);
    });
  }

  async leave(name: string): Promise<void> {
    const session = this.sessionOrThrow();
    if (name === '')
      throw new TpError('user', 'leave needs the intercept name', { hint: 'see telepresence list' });
    await this.unary<manager.RemoveInterceptRequest, manager.RemoveInterceptResponse>(
      'removeIntercept',
      { session, name },
      'leave',
    );
  }
}
