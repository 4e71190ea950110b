// Intercept records, as far as the protocol needs them now: a client creates and removes intercepts by
// name; an intercept is ACTIVE while agents of its workload have sessions (WAITING otherwise); agents and
// clients watch the intercepts that concern them. Intercepts end with their client's session.
import { status } from '@grpc/grpc-js';

import { manager } from '@telepresence/rpc';

import { StatusError } from '../grpc/status-error.js';
import type { AgentSession, ClientSession, SessionRegistry } from '../sessions/session-registry.js';
import { LatestValue } from '../util/latest-value.js';

interface InterceptRecord {
  readonly id: string;
  readonly clientSessionId: string;
  readonly spec: manager.InterceptSpec;
}

export class InterceptStore {
  private readonly records = new Map<string, InterceptRecord>();
  /** Bumped on any change of intercepts or agents; watchers recompute their snapshot. */
  private readonly generation = new LatestValue(0);

  constructor(private readonly sessions: SessionRegistry) {
    sessions.onChange((event, session) => {
      if (event === 'ended' && session.kind === 'client') {
        for (const [id, r] of this.records) if (r.clientSessionId === session.id) this.records.delete(id);
      }
      this.bump();
    });
  }

  /**
   * Throws a StatusError when the intercept cannot be recorded: no workload, the name is taken, it would
   * make the client's intercepts span two namespaces (seed footnote 1: DNS and connection origin could not
   * tell which namespace a lookup means), or another client already intercepts that workload's port.
   */
  check(client: ClientSession, spec: manager.InterceptSpec): void {
    if (spec.workload === '') {
      throw new StatusError(status.INVALID_ARGUMENT, 'intercept spec needs a workload');
    }
    const name = spec.name === '' ? spec.workload : spec.name;
    const namespace = spec.namespace === '' ? client.client.namespace : spec.namespace;
    if (this.records.has(`${client.id}:${name}`)) {
      throw new StatusError(
        status.ALREADY_EXISTS,
        `intercept "${name}" already exists for this client; remove it first`,
      );
    }
    const mine = [...this.records.values()].filter((r) => r.clientSessionId === client.id);
    const other = mine.find((r) => r.spec.namespace !== namespace);
    if (other !== undefined) {
      throw new StatusError(
        status.FAILED_PRECONDITION,
        `intercept "${name}" is in namespace "${namespace}" but intercept "${other.spec.name}" is in "${other.spec.namespace}": ` +
          'intercepts of one client cannot span namespaces; leave the others first',
      );
    }
    if (!spec.localOnly) {
      const taken = [...this.records.values()].find(
        (r) =>
          r.clientSessionId !== client.id &&
          !r.spec.localOnly &&
          r.spec.workload === spec.workload &&
          r.spec.namespace === namespace &&
          r.spec.servicePort === spec.servicePort,
      );
      if (taken !== undefined) {
        throw new StatusError(
          status.ALREADY_EXISTS,
          `port "${spec.servicePort || 'default'}" of ${namespace}/${spec.workload} is already intercepted by another client`,
        );
      }
    }
  }

  create(client: ClientSession, spec: manager.InterceptSpec): manager.InterceptInfo {
    this.check(client, spec);
    const name = spec.name === '' ? spec.workload : spec.name;
    const namespace = spec.namespace === '' ? client.client.namespace : spec.namespace;
    const id = `${client.id}:${name}`;
    const record = { id, clientSessionId: client.id, spec: { ...spec, name, namespace } };
    this.records.set(id, record);
    this.bump();
    return this.info(record);
  }

  remove(clientSessionId: string, name: string): void {
    if (!this.records.delete(`${clientSessionId}:${name}`)) {
      throw new StatusError(status.NOT_FOUND, `no intercept named "${name}" for this client`);
    }
    this.bump();
  }

  forClient(clientSessionId: string): manager.InterceptInfo[] {
    return [...this.records.values()]
      .filter((r) => r.clientSessionId === clientSessionId)
      .map((r) => this.info(r));
  }

  forWorkload(name: string, namespace: string): manager.InterceptInfo[] {
    return [...this.records.values()]
      .filter((r) => r.spec.workload === name && r.spec.namespace === namespace)
      .map((r) => this.info(r));
  }

  /** Agent sessions serving this client's intercepts that have a pod (not local-only). */
  interceptingAgents(clientSessionId: string): AgentSession[] {
    const out = new Map<string, AgentSession>();
    for (const r of this.records.values()) {
      if (r.clientSessionId !== clientSessionId || r.spec.localOnly) continue;
      for (const a of this.agentsOf(r.spec)) out.set(a.id, a);
    }
    return [...out.values()];
  }

  /** Snapshots of what concerns the session (a client: its intercepts; an agent: its workload's), on change. */
  async *watch(
    sessionId: string,
    signal: AbortSignal,
  ): AsyncGenerator<manager.InterceptSnapshot, void, undefined> {
    let last: string | undefined;
    for await (const _ of this.generation.watch(signal)) {
      const session = this.sessions.find(sessionId);
      if (session === undefined) return;
      const intercepts =
        session.kind === 'client'
          ? this.forClient(session.id)
          : this.forWorkload(session.agent.name, session.agent.namespace);
      const snapshot = manager.InterceptSnapshot.fromPartial({ intercepts });
      const key = Buffer.from(manager.InterceptSnapshot.encode(snapshot).finish()).toString('base64');
      if (key !== last) {
        last = key;
        yield snapshot;
      }
    }
  }

  private agentsOf(spec: manager.InterceptSpec): AgentSession[] {
    return this.sessions
      .agents()
      .filter((a) => a.agent.name === spec.workload && a.agent.namespace === spec.namespace);
  }

  private info(r: InterceptRecord): manager.InterceptInfo {
    const agents = r.spec.localOnly ? [] : this.agentsOf(r.spec);
    const active = r.spec.localOnly || agents.length > 0;
    return manager.InterceptInfo.fromPartial({
      id: r.id,
      spec: r.spec,
      clientSessionId: r.clientSessionId,
      state: active
        ? manager.InterceptState.INTERCEPT_STATE_ACTIVE
        : manager.InterceptState.INTERCEPT_STATE_WAITING,
      message: active ? '' : `waiting for an agent of ${r.spec.namespace}/${r.spec.workload}`,
      podNames: agents.map((a) => a.agent.podName),
    });
  }

  private bump(): void {
    this.generation.set(this.generation.current + 1);
  }
}
