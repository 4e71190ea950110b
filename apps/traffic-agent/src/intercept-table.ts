// Which of the agent's ports are intercepted right now, and by whom. Fed by the manager's
// WatchIntercepts snapshots (all intercepts of this workload); read by the port forwarder for every
// accepted connection, so lookups are cheap and the table is replaced whole on each snapshot.
import { manager } from '@telepresence/rpc';

import { portMatches, type InterceptPort } from './config.js';

export interface ActiveIntercept {
  readonly id: string;
  readonly name: string;
  readonly clientSessionId: string;
  /** The workstation port the client dials. */
  readonly localPort: number;
}

export class InterceptTable {
  private byAgentPort = new Map<number, ActiveIntercept>();
  private listeners: Array<() => void> = [];

  constructor(private readonly ports: readonly InterceptPort[]) {}

  /** Replaces the table with a snapshot; local-only and not-yet-active intercepts need no agent. */
  update(intercepts: readonly manager.InterceptInfo[]): void {
    const next = new Map<number, ActiveIntercept>();
    // Oldest first wins a port when two clients ask for it (the manager refuses that; be deterministic anyway).
    for (const i of intercepts) {
      const spec = i.spec;
      if (spec === undefined || spec.localOnly) continue;
      if (i.state !== manager.InterceptState.INTERCEPT_STATE_ACTIVE) continue;
      const port = this.ports.find((p) => portMatches(p, spec.servicePort));
      if (port === undefined || next.has(port.agentPort)) continue;
      next.set(port.agentPort, {
        id: i.id,
        name: spec.name,
        clientSessionId: i.clientSessionId,
        localPort: spec.localPort,
      });
    }
    this.byAgentPort = next;
    for (const l of this.listeners) l();
  }

  /** Forget everything: the session with the manager is gone, so traffic goes to the app again. */
  clear(): void {
    this.update([]);
  }

  activeFor(agentPort: number): ActiveIntercept | undefined {
    return this.byAgentPort.get(agentPort);
  }

  get size(): number {
    return this.byAgentPort.size;
  }

  onChange(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
}
