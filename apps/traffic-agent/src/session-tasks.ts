// The work an agent does for the manager during a session:
//  - dials: the manager hands it a client's outbound flow (connection origin); the agent opens a Tunnel
//    with the same conn id and dials the destination from its pod (libs/tunnel's dialer);
//  - DNS: the manager asks it to resolve a client's name in the pod's DNS context;
//  - intercepts: snapshots of its workload's intercepts drive the port forwarders.
import { ConnIdError, answerDial } from '@telepresence/tunnel';

import type { common, manager } from '@telepresence/rpc';

import type { InterceptTable } from './intercept-table.js';
import type { Logger } from './log.js';
import type { AgentManagerApi } from './manager-api.js';
import { errorText } from './session-loop.js';

export interface SessionTaskDeps {
  readonly api: AgentManagerApi;
  readonly log: Logger;
  readonly table: InterceptTable;
  readonly resolve: (question: common.DNSQuestion) => Promise<common.DNSAnswer>;
  readonly defaultDialTimeoutMs: number;
  /** Counters for status and tests. */
  readonly stats?: SessionTaskStats;
}

export interface SessionTaskStats {
  dials: number;
  dialFailures: number;
  lookups: number;
}

/** Runs the watchers; resolves or rejects when the first of them ends (the session then ends). */
export async function runSessionTasks(
  deps: SessionTaskDeps,
  session: common.SessionInfo,
  signal: AbortSignal,
): Promise<void> {
  try {
    await Promise.race([
      watchDials(deps, session, signal).then(() => {
        throw new Error('the manager ended WatchDial');
      }),
      watchLookups(deps, session, signal).then(() => {
        throw new Error('the manager ended WatchLookupDNS');
      }),
      watchIntercepts(deps, session, signal).then(() => {
        throw new Error('the manager ended WatchIntercepts');
      }),
    ]);
  } finally {
    // Without a session the agent cannot tunnel: traffic goes to the app until it arrives again.
    deps.table.clear();
  }
}

async function watchDials(deps: SessionTaskDeps, session: common.SessionInfo, signal: AbortSignal) {
  for await (const request of deps.api.watchDial(session, signal)) {
    void dialFor(deps, session, request);
  }
}

/** Answers one dial request: open the matching Tunnel and dial its destination from this pod. */
export async function dialFor(
  deps: SessionTaskDeps,
  session: common.SessionInfo,
  request: common.DialRequest,
): Promise<void> {
  const stats = deps.stats;
  const log = deps.log.child({ client: request.sessionId });
  try {
    const { id, end } = await answerDial(deps.api.tunnels, request, {
      sessionId: session.sessionId,
      defaultDialTimeoutMs: deps.defaultDialTimeoutMs,
      log,
      onOpened: () => {
        if (stats) stats.dials++;
      },
    });
    if (end.reason === 'dial-rejected' && stats) stats.dialFailures++;
    log.debug(
      {
        connId: id.toString(),
        reason: end.reason,
        sent: end.stats.bytesSent,
        received: end.stats.bytesReceived,
      },
      'dialed flow ended',
    );
  } catch (e) {
    if (e instanceof ConnIdError) {
      deps.log.warn({ err: errorText(e) }, 'dial request with a bad connection id');
      return;
    }
    if (stats) stats.dialFailures++;
    log.warn({ err: errorText(e) }, 'cannot answer a dial request');
  }
}

async function watchLookups(deps: SessionTaskDeps, session: common.SessionInfo, signal: AbortSignal) {
  for await (const query of deps.api.watchLookupDns(session, signal)) {
    void answerLookup(deps, session, query, signal);
  }
}

async function answerLookup(
  deps: SessionTaskDeps,
  session: common.SessionInfo,
  query: manager.AgentDNSQuery,
  signal: AbortSignal,
): Promise<void> {
  if (query.question === undefined) return;
  if (deps.stats) deps.stats.lookups++;
  const answer = await deps.resolve(query.question).catch(() => ({ rcode: 2, records: [] }));
  deps.log.debug(
    {
      name: query.question.name,
      type: query.question.type,
      rcode: answer.rcode,
      records: answer.records.length,
    },
    'lookup for a client',
  );
  try {
    await deps.api.answerDns(session, query.queryId, answer, signal);
  } catch (e) {
    deps.log.debug({ err: errorText(e) }, 'cannot post a DNS answer (late or session gone)');
  }
}

async function watchIntercepts(deps: SessionTaskDeps, session: common.SessionInfo, signal: AbortSignal) {
  for await (const snapshot of deps.api.watchIntercepts(session, signal)) {
    deps.table.update(snapshot.intercepts);
    deps.log.info(
      {
        intercepts: snapshot.intercepts.map((i) => ({
          name: i.spec?.name,
          port: i.spec?.servicePort,
          client: i.clientSessionId,
          state: i.state,
        })),
      },
      'intercepts changed',
    );
  }
}
