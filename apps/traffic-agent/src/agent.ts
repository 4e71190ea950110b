// Wires the agent's parts together (create, wire, start). main.ts supplies the real environment; tests
// supply a loopback manager, a fake resolver and ports 0.

import type { common, manager } from '@telepresence/rpc';
import { ipTextToBytes } from '@telepresence/subnets';

import type { AgentConfig, InterceptPort } from './config.js';
import { tunnelInbound } from './inbound.js';
import { InterceptTable } from './intercept-table.js';
import type { Logger } from './log.js';
import type { AgentManagerApi } from './manager-api.js';
import { PortForwarder } from './port-forwarder.js';
import { runSessionLoop, type BackoffOptions } from './session-loop.js';
import { runSessionTasks, type SessionTaskStats } from './session-tasks.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentDeps {
  readonly config: AgentConfig;
  readonly api: AgentManagerApi;
  readonly log: Logger;
  readonly resolve: (question: common.DNSQuestion) => Promise<common.DNSAnswer>;
  readonly backoff?: BackoffOptions;
  /** Where forwarders listen; default all addresses. */
  readonly listenHost?: string;
}

export interface RunningAgent {
  /** The ports actually listened on, one per distinct agent port in config order (0 = any port, in tests). */
  readonly listenPorts: readonly number[];
  readonly table: InterceptTable;
  readonly stats: SessionTaskStats;
  readonly forwarders: readonly PortForwarder[];
  /** The current session id, or undefined between sessions. */
  sessionId(): string | undefined;
  /** Resolves once a session is active (for tests and readiness). */
  whenActive(): Promise<void>;
  /** Departs, stops listening and ends open connections. Idempotent. */
  close(): Promise<void>;
}

export function agentInfo(config: AgentConfig): manager.AgentInfo {
  return {
    name: config.workload,
    namespace: config.namespace,
    podName: config.podName,
    podIp: config.podIp === '' ? Buffer.alloc(0) : ipTextToBytes(config.podIp),
    version: AGENT_VERSION,
  };
}

export async function startAgent(deps: AgentDeps): Promise<RunningAgent> {
  const { config, api, log } = deps;
  const table = new InterceptTable(config.ports);
  const stats: SessionTaskStats = { dials: 0, dialFailures: 0, lookups: 0 };
  let currentSession: string | undefined;
  let activeWaiters: Array<() => void> = [];

  // One listener per agent port: several Service ports may reach one container port and share it
  // (agent port 0, "any port", is only used by tests and always gets its own listener).
  const listeners: InterceptPort[] = [];
  for (const p of config.ports)
    if (p.agentPort === 0 || !listeners.some((l) => l.agentPort === p.agentPort)) listeners.push(p);
  const forwarders = listeners.map(
    (port: InterceptPort) =>
      new PortForwarder({
        port,
        appHost: config.appHost,
        table,
        log: log.child({ component: 'forwarder', port: port.agentPort }),
        ...(deps.listenHost === undefined ? {} : { listenHost: deps.listenHost }),
        onIntercepted: (intercept, caller) => {
          const sessionId = currentSession;
          if (sessionId === undefined) {
            caller.resetAndDestroy();
            return;
          }
          tunnelInbound(
            { tunnels: api.tunnels, sessionId, dialTimeoutMs: config.dialTimeoutMs, log },
            intercept,
            caller,
          );
        },
      }),
  );
  const listenPorts: number[] = [];
  try {
    for (const f of forwarders) listenPorts.push(await f.listen());
  } catch (e) {
    await Promise.all(forwarders.map((f) => f.close()));
    throw e;
  }
  log.info(
    {
      ports: listeners.map((p, i) => `${listenPorts[i]}->${config.appHost}:${p.containerPort}`),
    },
    'forwarding ports to the app container',
  );

  const stop = new AbortController();
  const loop = runSessionLoop(
    {
      api,
      agent: agentInfo(config),
      log,
      remainIntervalMs: config.remainIntervalMs,
      ...(deps.backoff === undefined ? {} : { backoff: deps.backoff }),
      onSession: async (session, signal) => {
        currentSession = session.sessionId;
        activeWaiters.splice(0).forEach((w) => w());
        try {
          await runSessionTasks(
            { api, log, table, resolve: deps.resolve, defaultDialTimeoutMs: config.dialTimeoutMs, stats },
            session,
            signal,
          );
        } finally {
          currentSession = undefined;
        }
      },
    },
    stop.signal,
  );

  let closing: Promise<void> | undefined;
  return {
    listenPorts,
    table,
    stats,
    forwarders,
    sessionId: () => currentSession,
    whenActive: () =>
      currentSession !== undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            activeWaiters.push(resolve);
          }),
    close() {
      closing ??= (async () => {
        stop.abort();
        activeWaiters = [];
        await loop;
        await Promise.all(forwarders.map((f) => f.close()));
      })();
      return closing;
    },
  };
}
