// What the agent needs from the traffic-manager, behind a small interface so the session loop and the
// watchers are tested with fakes; grpcManagerApi implements it on the generated grpc-js ManagerClient.
import { status, type ServiceError } from '@grpc/grpc-js';

import {
  serverStream,
  unaryCall,
  type CallMetadata,
  type ManagerClient,
  type common,
  type manager,
} from '@telepresence/rpc';
import type { TunnelClient } from '@telepresence/tunnel';

export interface AgentManagerApi {
  arrive(agent: manager.AgentInfo, signal: AbortSignal): Promise<common.SessionInfo>;
  remain(session: common.SessionInfo, signal: AbortSignal): Promise<void>;
  depart(session: common.SessionInfo, signal: AbortSignal): Promise<void>;
  /** Server streams as async iterables: they end when the manager ends them, throw on error, stop on abort. */
  watchDial(session: common.SessionInfo, signal: AbortSignal): AsyncIterable<common.DialRequest>;
  watchLookupDns(session: common.SessionInfo, signal: AbortSignal): AsyncIterable<manager.AgentDNSQuery>;
  answerDns(
    session: common.SessionInfo,
    queryId: string,
    answer: common.DNSAnswer,
    signal: AbortSignal,
  ): Promise<void>;
  watchIntercepts(session: common.SessionInfo, signal: AbortSignal): AsyncIterable<manager.InterceptSnapshot>;
  /**
   * After a failed arrival: a new channel to the manager, which looks its name up afresh. A channel
   * keeps dialing the address it resolved (a manager pod that is gone) and may not look again for long.
   */
  renew?(): void;
  /** For libs/tunnel's openTunnel: the agent's flows use the same HTTP/2 connection as its session. */
  readonly tunnels: TunnelClient;
}

/** True for a status that means "this session is gone: arrive again" rather than "try the call again". */
export function isSessionGone(e: unknown): boolean {
  const code = (e as Partial<ServiceError>).code;
  return code === status.NOT_FOUND || code === status.PERMISSION_DENIED;
}

/**
 * `client`: the grpc-js client, or a source of them that renew() replaces. `tunnels`: where Tunnel calls go
 * (main.ts: an Http2TunnelClient); the grpc-js client if not given.
 */
export function grpcManagerApi(
  client: ManagerClient | ManagerClientSource,
  {
    callTimeoutMs = 5000,
    tunnels,
    metadata,
  }: { callTimeoutMs?: number; tunnels?: TunnelClient; metadata?: CallMetadata } = {},
): AgentManagerApi {
  const source: ManagerClientSource = isSource(client) ? client : { current: () => client };
  const c = (): ManagerClient => source.current();
  const tunnelClient: TunnelClient = tunnels ?? source.current();
  const unary = <Req, Res>(
    method: (c: ManagerClient) => unknown,
    req: Req,
    signal: AbortSignal,
  ): Promise<Res> => {
    const now = c();
    return unaryCall<Req, Res>(now, method(now), req, { timeoutMs: callTimeoutMs, signal, metadata });
  };

  return {
    async arrive(agent, signal) {
      const res = await unary<manager.ArriveAsAgentRequest, manager.ArriveAsAgentResponse>(
        (x) => x.arriveAsAgent,
        { agent },
        signal,
      );
      if (res.session === undefined)
        throw new Error('the traffic-manager answered ArriveAsAgent without a session');
      return res.session;
    },
    async remain(session, signal) {
      await unary((x) => x.remain, { session }, signal);
    },
    async depart(session, signal) {
      await unary((x) => x.depart, { session }, signal);
    },
    watchDial: (session, signal) => serverStream((m) => c().watchDial({ session }, m), signal, metadata),
    watchLookupDns: (session, signal) =>
      serverStream((m) => c().watchLookupDns({ session }, m), signal, metadata),
    async answerDns(session, queryId, answer, signal) {
      await unary((x) => x.agentLookupDnsResponse, { session, queryId, answer }, signal);
    },
    watchIntercepts: (session, signal) =>
      serverStream((m) => c().watchIntercepts({ session }, m), signal, metadata),
    tunnels: tunnelClient,
    ...(source.renew === undefined ? {} : { renew: () => source.renew!() }),
  };
}

function isSource(c: ManagerClient | ManagerClientSource): c is ManagerClientSource {
  return typeof (c as Partial<ManagerClientSource>).current === 'function';
}

/** The grpc-js client to the manager now; renew() closes it and makes the next. */
export interface ManagerClientSource {
  current(): ManagerClient;
  renew?(): void;
}
