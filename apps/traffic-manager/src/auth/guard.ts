// Puts CallAuth in front of every Manager handler: one table says what each call needs; the handlers
// themselves stay as they are. Tunnel calls (served on node:http2 ahead of grpc-js) are admitted by
// tunnelAdmission, which the tunnel router asks once the stream has named its session.
import type { Metadata } from '@grpc/grpc-js';
import {
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type UntypedHandleCall,
  type sendUnaryData,
} from '@grpc/grpc-js';

import { ManagerService, type ManagerServer, type manager } from '@telepresence/rpc';

import { StatusError, toServiceError } from '../grpc/status-error.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { TunnelAdmission, TunnelBroker, TunnelCall } from '../tunnel/tunnel-broker.js';
import { AuthRefusal, connectPermission, interceptPermission, type CallAuth } from './caller-auth.js';
import type { Identity } from './identity.js';

type Request = { session?: { sessionId: string } | undefined } & Record<string, unknown>;

/** What a call needs beyond a valid token; undefined = any authenticated caller (session checks only). */
type Policy = (identity: Identity, request: Request) => Promise<void>;

export interface GuardDeps {
  readonly auth: CallAuth;
  readonly sessions: SessionRegistry;
  readonly managerNamespace: string;
  readonly tunnels: TunnelBroker | undefined;
}

export function guardManagerServer(
  impl: ManagerServer,
  deps: GuardDeps,
): {
  readonly impl: ManagerServer;
  /** For a Tunnel call served on node:http2: its "authorization" header in, the stream's admission out. */
  readonly tunnelAdmission: (authorization: string | undefined) => TunnelAdmission;
} {
  const { auth, sessions } = deps;
  const connect = connectPermission(deps.managerNamespace);

  /** A call naming a session: only its owner may, and a client session needs connect (re-checked). */
  const sessionPolicy: Policy = async (identity, req) => {
    const id = req.session?.sessionId;
    if (id === undefined || id === '') return; // the handler answers INVALID_ARGUMENT
    auth.checkOwner(id, identity);
    if (sessions.find(id)?.kind === 'client') await auth.require(identity, connect);
  };

  const policies: Partial<Record<keyof ManagerServer, Policy>> = {
    arriveAsClient: (identity) => auth.require(identity, connect),
    arriveAsAgent: (identity, req) => {
      const a = (req as unknown as manager.ArriveAsAgentRequest).agent;
      return auth.admitAgent(identity, { namespace: a?.namespace ?? '', podName: a?.podName ?? '' });
    },
    createIntercept: async (identity, req) => {
      await sessionPolicy(identity, req);
      const spec = (req as unknown as manager.CreateInterceptRequest).spec;
      const session = sessions.find(req.session?.sessionId ?? '');
      if (spec === undefined || spec.workload === '' || session?.kind !== 'client') return;
      const namespace = spec.namespace === '' ? session.client.namespace : spec.namespace;
      await auth.require(identity, interceptPermission(namespace, spec.workload));
    },
  };

  /** The caller's identity when the call may go on; throws the status to answer with otherwise. */
  async function admit(rpc: string, metadata: Metadata, req: Request): Promise<Identity | undefined> {
    const policy = policies[rpc as keyof ManagerServer] ?? sessionPolicy;
    let identity: Identity | undefined;
    try {
      identity = await auth.authenticate(firstString(metadata.get('authorization')));
      await policy(identity, req);
      return identity;
    } catch (e) {
      if (!(e instanceof AuthRefusal)) {
        if (auth.mode === 'permissive') {
          auth.log.warn({ rpc, err: String(e) }, 'cannot check the caller (permissive: allowed)');
          return identity;
        }
        if (e instanceof StatusError || (e as { statusCode?: unknown }).statusCode === 403) throw e;
        throw new StatusError(
          status.UNAVAILABLE,
          `the traffic-manager cannot check the caller's identity now: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      refused(rpc, e, identity);
      if (auth.mode === 'enforcing') {
        // The owner lost the right to connect: its session ends now, not when it would expire.
        const id = req.session?.sessionId;
        if (
          rpc === 'remain' &&
          identity !== undefined &&
          id !== undefined &&
          e.code === status.PERMISSION_DENIED
        )
          endIfOwned(id, identity, e.message);
        throw e;
      }
      return identity;
    }
  }

  function endIfOwned(sessionId: string, identity: Identity, why: string): void {
    try {
      auth.checkOwner(sessionId, identity);
    } catch {
      return; // someone else's session: a stranger's refusal never ends it
    }
    if (sessions.find(sessionId) !== undefined) {
      auth.log.info({ sessionId, why }, 'ending the session: its owner lost the permission');
      sessions.depart(sessionId);
    }
  }

  function refused(rpc: string, e: AuthRefusal, identity: Identity | undefined): void {
    const enforced = auth.mode === 'enforcing' ? 'true' : 'false';
    const code = e.code === status.UNAUTHENTICATED ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED';
    auth.options.metrics.refusals.inc({ rpc, code, enforced });
    if (rpc === 'arriveAsClient' || rpc === 'arriveAsAgent')
      auth.options.metrics.sessionsRefused.inc({
        kind: rpc === 'arriveAsAgent' ? 'agent' : 'client',
        enforced,
      });
    auth.log.warn(
      { rpc, code, user: identity?.username, reason: e.message },
      auth.mode === 'enforcing' ? 'call refused' : 'call would be refused (permissive: allowed)',
    );
  }

  const guarded: Record<string, UntypedHandleCall> = { ...impl };
  for (const [rpc, definition] of Object.entries(ManagerService)) {
    const handler = impl[rpc as keyof ManagerServer] as UntypedHandleCall | undefined;
    if (handler === undefined || rpc === 'version' || definition.requestStream) continue;
    if (!definition.responseStream) {
      const unary = handler as (call: ServerUnaryCall<Request, unknown>, cb: sendUnaryData<unknown>) => void;
      guarded[rpc] = (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>) => {
        admit(rpc, call.metadata, call.request).then(
          (identity) =>
            unary(call, (err, res) => {
              const sessionId = (res as { session?: { sessionId?: string } } | undefined)?.session?.sessionId;
              if (
                err === null &&
                identity !== undefined &&
                sessionId !== undefined &&
                rpc.startsWith('arrive')
              )
                auth.bind(sessionId, identity);
              callback(err, res);
            }),
          (e: unknown) => callback(toServiceError(e) as ServiceError),
        );
      };
    } else {
      const stream = handler as (call: ServerWritableStream<Request, unknown>) => void;
      guarded[rpc] = (call: ServerWritableStream<Request, unknown>) => {
        admit(rpc, call.metadata, call.request).then(
          () => stream(call),
          (e: unknown) => call.emit('error', toServiceError(e)),
        );
      };
    }
  }

  const tunnelAdmission = (authorization: string | undefined): TunnelAdmission => {
    const identity = auth.authenticate(authorization);
    identity.catch(() => {}); // looked at when the stream names its session
    return async (sessionId) => {
      try {
        await sessionPolicy(await identity, { session: { sessionId } });
        return undefined;
      } catch (e) {
        if (!(e instanceof AuthRefusal)) {
          if (auth.mode === 'permissive') return undefined;
          return `the traffic-manager cannot check the caller's identity now: ${e instanceof Error ? e.message : String(e)}`;
        }
        refused('tunnel', e, await identity.catch(() => undefined));
        return auth.mode === 'enforcing' ? e.message : undefined;
      }
    };
  };
  if (deps.tunnels !== undefined) {
    const tunnels = deps.tunnels;
    guarded['tunnel'] = (call: TunnelCall) =>
      tunnels.tunnel(call, tunnelAdmission(firstString(call.metadata.get('authorization'))));
  }
  return { impl: guarded as unknown as ManagerServer, tunnelAdmission };
}

function firstString(values: readonly unknown[]): string | undefined {
  const v = values[0];
  return typeof v === 'string' ? v : undefined;
}
