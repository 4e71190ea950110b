// Lookups done by a client's intercepting agents (seed "Cluster side DNS lookups"): every chosen agent is
// asked through its WatchLookupDNS stream, the manager waits for all of them or a bounded time, and the
// client gets the unique union of the records they returned.
import { randomUUID } from 'node:crypto';

import { Rcode } from '@telepresence/dns-core';
import type { common, manager } from '@telepresence/rpc';

import { AsyncQueue } from '../util/async-queue.js';

interface Pending {
  readonly waitingFor: Set<string>;
  readonly answers: common.DNSAnswer[];
  readonly done: () => void;
}

export class AgentDnsBroker {
  private readonly queues = new Map<string, AsyncQueue<manager.AgentDNSQuery>>();
  private readonly pending = new Map<string, Pending>();
  /** Woken whenever an agent registers, for lookups that wait for a starting agent. */
  private readonly registrationWaiters = new Set<() => void>();

  /** Called by an agent's WatchLookupDNS; the returned function unregisters it. */
  register(agentSessionId: string): { queue: AsyncQueue<manager.AgentDNSQuery>; unregister: () => void } {
    const queue = new AsyncQueue<manager.AgentDNSQuery>(256);
    this.queues.set(agentSessionId, queue);
    for (const wake of this.registrationWaiters) wake();
    return {
      queue,
      unregister: () => {
        if (this.queues.get(agentSessionId) === queue) this.queues.delete(agentSessionId);
        // Nobody will read this agent's pending queries any more: stop waiting for it.
        for (const p of this.pending.values())
          if (p.waitingFor.delete(agentSessionId) && p.waitingFor.size === 0) p.done();
      },
    };
  }

  /** Agents (of the given ones) that are listening for lookups now. */
  listening(agentSessionIds: readonly string[]): string[] {
    return agentSessionIds.filter((id) => this.queues.has(id));
  }

  /**
   * The given agents that listen for lookups, after waiting up to waitMs for those that do not yet: an agent
   * has its session (and so counts as intercepting) a moment before its WatchLookupDNS stream is open, and a
   * lookup in that moment must not silently lose its answer from the union.
   */
  async whenListening(agentSessionIds: readonly string[], waitMs: number): Promise<string[]> {
    if (this.listening(agentSessionIds).length === agentSessionIds.length || waitMs <= 0) {
      return this.listening(agentSessionIds);
    }
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.registrationWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (this.listening(agentSessionIds).length === agentSessionIds.length) finish();
      };
      const timer = setTimeout(finish, waitMs);
      this.registrationWaiters.add(check);
    });
    return this.listening(agentSessionIds);
  }

  /** Answers received from the agents within timeoutMs (possibly none). */
  async ask(
    clientSessionId: string,
    question: common.DNSQuestion,
    agentSessionIds: readonly string[],
    timeoutMs: number,
  ): Promise<common.DNSAnswer[]> {
    const queryId = randomUUID();
    const answers: common.DNSAnswer[] = [];
    const waitingFor = new Set<string>();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.pending.set(queryId, { waitingFor, answers, done });
    try {
      for (const id of agentSessionIds) {
        const queue = this.queues.get(id);
        if (queue === undefined) continue;
        try {
          queue.push({ queryId, clientSessionId, question });
          waitingFor.add(id);
        } catch {
          // A full queue means the agent is stuck; leave it out of this lookup.
        }
      }
      if (waitingFor.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          finished,
          new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
        ]);
        clearTimeout(timer);
      }
      return answers;
    } finally {
      this.pending.delete(queryId);
    }
  }

  /** An agent's answer; ignored when late or unexpected. */
  answer(agentSessionId: string, queryId: string, answer: common.DNSAnswer): void {
    const p = this.pending.get(queryId);
    if (p === undefined || !p.waitingFor.delete(agentSessionId)) return;
    p.answers.push(answer);
    if (p.waitingFor.size === 0) p.done();
  }
}

/**
 * One answer from several: the unique union of all records (byte-identical records once). NOERROR when any
 * agent found records or answered NOERROR; else NXDOMAIN if any agent said so (a definite answer beats a
 * failure); else the first agent's rcode.
 */
export function unionAnswers(answers: readonly common.DNSAnswer[]): common.DNSAnswer {
  const seen = new Set<string>();
  const records: Buffer[] = [];
  for (const a of answers) {
    for (const r of a.records) {
      const key = Buffer.from(r).toString('hex');
      if (!seen.has(key)) {
        seen.add(key);
        records.push(Buffer.from(r));
      }
    }
  }
  if (records.length > 0 || answers.some((a) => a.rcode === Rcode.NOERROR)) {
    return { rcode: Rcode.NOERROR, records };
  }
  if (answers.some((a) => a.rcode === Rcode.NXDOMAIN)) {
    return { rcode: Rcode.NXDOMAIN, records: [] };
  }
  return { rcode: answers[0]?.rcode ?? Rcode.SERVFAIL, records: [] };
}
