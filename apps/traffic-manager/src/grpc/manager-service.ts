// The Manager gRPC service: thin handlers that validate the session and delegate to the parts.
import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { manager, type DialRequest, type ManagerServer } from '@telepresence/rpc';

import type { ClusterInfoStore } from '../cluster-info/cluster-info-store.js';
import { unionAnswers, type AgentDnsBroker } from '../dns/agent-lookups.js';
import { lookupInCluster, type DnsBackend } from '../dns/cluster-resolver.js';
import type { SearchContext } from '../dns/search-context.js';
import type { InterceptHooks } from '../injector/intercept-hooks.js';
import { KubeApiError } from '../k8s/cluster-api.js';
import type { InterceptStore } from '../intercepts/intercept-store.js';
import type { ManagerMetrics } from '../metrics.js';
import type { ClientSession, Session, SessionRegistry } from '../sessions/session-registry.js';
import type { TunnelBroker } from '../tunnel/tunnel-broker.js';
import { StatusError, toServiceError } from './status-error.js';
import { callSignal, pipeToCall } from './streams.js';

/** How long a lookup waits for an intercepting agent whose DNS stream is not open yet. */
const AGENT_DNS_REGISTRATION_WAIT_MS = 1000;

export interface ManagerServiceDeps {
  readonly log: Logger;
  readonly version: string;
  /** Highest tunnel protocol version the manager speaks. */
  readonly tunnelVersion: number;
  readonly clusterId: string;
  readonly sessions: SessionRegistry;
  readonly clusterInfo: ClusterInfoStore;
  readonly intercepts: InterceptStore;
  readonly dnsBackend: DnsBackend;
  readonly agentDns: AgentDnsBroker;
  readonly agentDnsTimeoutMs: number;
  /** Total time one LookupDNS may spend trying search candidates. */
  readonly dnsBudgetMs: number;
  /** The search context for a client's namespace (cluster domain and pod search list filled in). */
  readonly searchContext: (clientNamespace: string) => SearchContext;
  readonly tunnels: TunnelBroker | undefined;
  readonly metrics: ManagerMetrics;
  /** Cluster work around intercepts (agent enabling, workload listing); absent in tests without a cluster. */
  readonly interceptHooks?: InterceptHooks;
}

function unary<Req, Res>(log: Logger, name: string, fn: (req: Req) => Promise<Res> | Res) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (e: unknown) => {
          const err = toServiceError(e);
          if (err.code === status.INTERNAL) log.error({ rpc: name, err: e }, 'rpc failed');
          else if (e instanceof KubeApiError && e.statusCode === 403)
            log.error(
              { rpc: name, err: e.message },
              'rpc failed: the traffic-manager lacks a Kubernetes permission',
            );
          else log.debug({ rpc: name, code: err.code, details: err.details }, 'rpc rejected');
          callback(err);
        },
      );
  };
}

/**
 * Runs a server stream that belongs to a session: it ends when the client cancels, or when the session
 * ends, then with the status that says why (e.g. NOT_FOUND "session ... expired ...; arrive again").
 */
function sessionStream<Req, Res>(
  log: Logger,
  name: string,
  sessionOf: (req: Req) => Session,
  run: (session: Session, call: ServerWritableStream<Req, Res>, signal: AbortSignal) => Promise<void>,
) {
  return (call: ServerWritableStream<Req, Res>): void => {
    let session: Session;
    try {
      session = sessionOf(call.request);
    } catch (e) {
      call.emit('error', toServiceError(e));
      return;
    }
    const signal = AbortSignal.any([callSignal(call), session.signal]);
    run(session, call, signal).then(
      () => {
        if (session.signal.aborted) call.emit('error', toServiceError(session.signal.reason));
        else if (!call.cancelled) call.end();
      },
      (e: unknown) => {
        log.warn({ rpc: name, err: e }, 'stream failed');
        if (!call.cancelled) call.emit('error', toServiceError(e));
      },
    );
  };
}

export function createManagerServer(deps: ManagerServiceDeps): ManagerServer {
  const log = deps.log.child({ component: 'grpc' });
  const { sessions } = deps;
  const sessionId = (req: { session?: { sessionId: string } | undefined }): string => {
    const id = req.session?.sessionId;
    if (id === undefined || id === '')
      throw new StatusError(
        status.INVALID_ARGUMENT,
        'request has no session; call ArriveAsClient or ArriveAsAgent first',
      );
    return id;
  };
  const anySession = (req: { session?: { sessionId: string } | undefined }): Session =>
    sessions.get(sessionId(req));
  const clientSession = (req: { session?: { sessionId: string } | undefined }): ClientSession => {
    const s = anySession(req);
    if (s.kind !== 'client')
      throw new StatusError(
        status.PERMISSION_DENIED,
        `session ${s.id} is an agent session; this call is for clients`,
      );
    return s;
  };
  const sessionInfo = (id: string) => ({ sessionId: id, clusterId: deps.clusterId });

  return {
    version: unary(log, 'Version', () => ({
      info: { name: 'traffic-manager', version: deps.version, tunnelVersion: deps.tunnelVersion },
    })),
    arriveAsClient: unary(log, 'ArriveAsClient', (req: manager.ArriveAsClientRequest) => {
      if (req.client === undefined)
        throw new StatusError(status.INVALID_ARGUMENT, 'ArriveAsClient needs client info');
      const client = {
        ...req.client,
        namespace: req.client.namespace === '' ? 'default' : req.client.namespace,
      };
      return { session: sessionInfo(sessions.arriveAsClient(client).id) };
    }),
    arriveAsAgent: unary(log, 'ArriveAsAgent', (req: manager.ArriveAsAgentRequest) => {
      const a = req.agent;
      if (a === undefined || a.name === '' || a.namespace === '' || a.podName === '') {
        throw new StatusError(
          status.INVALID_ARGUMENT,
          'ArriveAsAgent needs agent info with name, namespace and pod name',
        );
      }
      if (a.podIp.length !== 4 && a.podIp.length !== 16) {
        throw new StatusError(status.INVALID_ARGUMENT, 'ArriveAsAgent needs the pod IP as 4 or 16 bytes');
      }
      return { session: sessionInfo(sessions.arriveAsAgent(a).id) };
    }),
    remain: unary(log, 'Remain', (req: manager.RemainRequest) => {
      sessions.remain(sessionId(req));
      return {};
    }),
    depart: unary(log, 'Depart', (req: manager.DepartRequest) => {
      sessions.depart(sessionId(req));
      return {};
    }),

    watchClusterInfo: sessionStream(
      log,
      'WatchClusterInfo',
      anySession,
      (_s, call: ServerWritableStream<manager.WatchClusterInfoRequest, manager.ClusterInfo>, signal) =>
        pipeToCall(deps.clusterInfo.watch(signal), call, signal),
    ),

    lookupDns: unary(log, 'LookupDNS', async (req: manager.LookupDNSRequest) => {
      const client = clientSession(req);
      const question = req.question;
      if (question === undefined || question.name === '')
        throw new StatusError(status.INVALID_ARGUMENT, 'LookupDNS needs a question');
      const agents = await deps.agentDns.whenListening(
        deps.intercepts.interceptingAgents(client.id).map((a) => a.id),
        Math.min(deps.agentDnsTimeoutMs, AGENT_DNS_REGISTRATION_WAIT_MS),
      );
      if (agents.length > 0) {
        const answers = await deps.agentDns.ask(client.id, question, agents, deps.agentDnsTimeoutMs);
        if (answers.length > 0) {
          deps.metrics.dnsLookups.inc({ result: 'agents' });
          return { answer: unionAnswers(answers) };
        }
        log.debug(
          { name: question.name, agents: agents.length },
          'no agent answered in time; resolving in the manager',
        );
      }
      const result = await lookupInCluster(
        question,
        deps.searchContext(client.client.namespace),
        deps.dnsBackend,
        { signal: AbortSignal.timeout(deps.dnsBudgetMs) }, // a slow resolver answers SERVFAIL in time
      );
      deps.metrics.dnsLookups.inc({ result: result.result });
      log.debug(
        { name: question.name, type: question.type, result: result.result, resolvedAs: result.resolvedAs },
        'LookupDNS',
      );
      return { answer: result.answer };
    }),
    watchLookupDns: sessionStream(
      log,
      'WatchLookupDNS',
      anySession,
      async (
        session,
        call: ServerWritableStream<manager.WatchLookupDNSRequest, manager.AgentDNSQuery>,
        signal,
      ) => {
        if (session.kind !== 'agent')
          throw new StatusError(status.PERMISSION_DENIED, 'WatchLookupDNS is for agent sessions');
        const { queue, unregister } = deps.agentDns.register(session.id);
        try {
          const queries = (async function* () {
            for (;;) {
              const q = await queue.take(signal);
              if (q === undefined) return;
              yield q;
            }
          })();
          await pipeToCall(queries, call, signal);
        } finally {
          unregister();
        }
      },
    ),
    agentLookupDnsResponse: unary(
      log,
      'AgentLookupDNSResponse',
      (req: manager.AgentLookupDNSResponseRequest) => {
        const s = anySession(req);
        if (req.answer !== undefined) deps.agentDns.answer(s.id, req.queryId, req.answer);
        return {};
      },
    ),

    tunnel: (call) => {
      if (deps.tunnels === undefined) {
        call.emit(
          'error',
          toServiceError(new StatusError(status.UNIMPLEMENTED, 'tunnels are not available in this build')),
        );
        return;
      }
      deps.tunnels.tunnel(call);
    },
    watchDial: sessionStream(
      log,
      'WatchDial',
      anySession,
      async (session, call: ServerWritableStream<manager.WatchDialRequest, DialRequest>, signal) => {
        if (deps.tunnels === undefined)
          throw new StatusError(status.UNIMPLEMENTED, 'tunnels are not available in this build');
        await deps.tunnels.watchDial(session, call, signal);
      },
    ),

    listWorkloads: unary(log, 'ListWorkloads', async (req: manager.ListWorkloadsRequest) => {
      const client = clientSession(req);
      const namespace = req.namespace === '' ? client.client.namespace : req.namespace;
      const byName = new Map<string, manager.WorkloadInfo>();
      for (const name of (await deps.interceptHooks?.workloads(namespace)) ?? [])
        byName.set(name, manager.WorkloadInfo.fromPartial({ name, namespace, kind: 'Deployment' }));
      for (const a of sessions.agents()) {
        if (a.agent.namespace !== namespace) continue;
        const w =
          byName.get(a.agent.name) ??
          manager.WorkloadInfo.fromPartial({ name: a.agent.name, namespace, kind: 'Deployment' });
        w.agents.push(a.agent);
        byName.set(a.agent.name, w);
      }
      for (const w of byName.values()) w.intercepts = deps.intercepts.forWorkload(w.name, namespace);
      return { workloads: [...byName.values()].sort((x, y) => x.name.localeCompare(y.name)) };
    }),
    createIntercept: unary(log, 'CreateIntercept', async (req: manager.CreateInterceptRequest) => {
      const client = clientSession(req);
      if (req.spec === undefined)
        throw new StatusError(status.INVALID_ARGUMENT, 'CreateIntercept needs a spec');
      deps.intercepts.check(client, req.spec);
      await deps.interceptHooks?.beforeCreate(client, req.spec);
      return { intercept: deps.intercepts.create(client, req.spec) };
    }),
    removeIntercept: unary(log, 'RemoveIntercept', (req: manager.RemoveInterceptRequest) => {
      deps.intercepts.remove(clientSession(req).id, req.name);
      return {};
    }),
    watchIntercepts: sessionStream(
      log,
      'WatchIntercepts',
      anySession,
      (
        session,
        call: ServerWritableStream<manager.WatchInterceptsRequest, manager.InterceptSnapshot>,
        signal,
      ) => pipeToCall(deps.intercepts.watch(session.id, signal), call, signal),
    ),

    reportMetrics: unary(log, 'ReportMetrics', (req: manager.ReportMetricsRequest) => {
      anySession(req);
      const m = req.metrics;
      if (m !== undefined) {
        deps.metrics.tunnelBytes.inc({ direction: 'from_client' }, m.ingressBytes);
        deps.metrics.tunnelBytes.inc({ direction: 'to_client' }, m.egressBytes);
      }
      return {};
    }),
  };
}
