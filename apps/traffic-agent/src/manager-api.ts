// What the agent needs from the traffic-manager, behind a small interface so the session loop and the
// watchers are tested with fakes; grpcManagerApi implements it on the generated grpc-js ManagerClient.
import { Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';

import type { ManagerClient, common, manager } from '@telepresence/rpc';
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
  /** For libs/tunnel's openTunnel: the agent's flows use the same HTTP/2 connection as its session. */
  readonly tunnels: TunnelClient;
}

/** True for a status that means "this session is gone: arrive again" rather than "try the call again". */
export function isSessionGone(e: unknown): boolean {
  const code = (e as Partial<ServiceError>).code;
  return code === status.NOT_FOUND || code === status.PERMISSION_DENIED;
}

type Unary<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: { deadline: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** `tunnels`: where Tunnel calls go (main.ts: an Http2TunnelClient); the grpc-js client if not given. */
export function grpcManagerApi(
  client: ManagerClient,
  { callTimeoutMs = 5000, tunnels = client }: { callTimeoutMs?: number; tunnels?: TunnelClient } = {},
): AgentManagerApi {
  const unary = <Req, Res>(method: Unary<Req, Res>, req: Req, signal: AbortSignal): Promise<Res> =>
    new Promise<Res>((resolve, reject) => {
      const call = method.call(
        client,
        req,
        new Metadata(),
        { deadline: new Date(Date.now() + callTimeoutMs) },
        (err: ServiceError | null, res: Res) => {
          signal.removeEventListener('abort', cancel);
          if (err) reject(err);
          else resolve(res);
        },
      ) as { cancel(): void };
      const cancel = (): void => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });

  return {
    async arrive(agent, signal) {
      const res = await unary<manager.ArriveAsAgentRequest, manager.ArriveAsAgentResponse>(
        client.arriveAsAgent as Unary<manager.ArriveAsAgentRequest, manager.ArriveAsAgentResponse>,
        { agent },
        signal,
      );
      if (res.session === undefined)
        throw new Error('the traffic-manager answered ArriveAsAgent without a session');
      return res.session;
    },
    async remain(session, signal) {
      await unary(client.remain as Unary<manager.RemainRequest, manager.RemainResponse>, { session }, signal);
    },
    async depart(session, signal) {
      await unary(client.depart as Unary<manager.DepartRequest, manager.DepartResponse>, { session }, signal);
    },
    watchDial: (session, signal) => iterate(client.watchDial({ session }), signal),
    watchLookupDns: (session, signal) => iterate(client.watchLookupDns({ session }), signal),
    async answerDns(session, queryId, answer, signal) {
      await unary(
        client.agentLookupDnsResponse as Unary<
          manager.AgentLookupDNSResponseRequest,
          manager.AgentLookupDNSResponseResponse
        >,
        { session, queryId, answer },
        signal,
      );
    },
    watchIntercepts: (session, signal) => iterate(client.watchIntercepts({ session }), signal),
    tunnels,
  };
}

/** A server stream as an async iterable; aborting cancels the call and ends the iteration quietly. */
async function* iterate<T>(call: ClientReadableStream<T>, signal: AbortSignal): AsyncGenerator<T> {
  const cancel = (): void => call.cancel();
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  try {
    for await (const item of call as AsyncIterable<T>) yield item;
  } catch (e) {
    if (signal.aborted && (e as Partial<ServiceError>).code === status.CANCELLED) return;
    throw e;
  } finally {
    signal.removeEventListener('abort', cancel);
    call.cancel();
  }
}
