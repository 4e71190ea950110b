// The agent's session with the traffic-manager: arrive, keep it alive with Remain, and run the session's
// work (watchers) until something ends it; then arrive again after a backoff with jitter. Ends only when
// the caller's signal aborts, after a best-effort Depart.
//
// A session ends when: Remain fails (expired, manager restarted, connection lost), any session task ends
// or fails (its stream broke), or the caller aborts. Every path aborts the session's signal, so all its
// tasks stop before the next arrival.
import type { common, manager } from '@telepresence/rpc';
import { Backoff, sleep, type BackoffOptions as TunnelBackoffOptions } from '@telepresence/tunnel';

import type { Logger } from './log.js';
import type { AgentManagerApi } from './manager-api.js';

/** libs/tunnel's Backoff options, all given (the agent's chart settings). */
export type BackoffOptions = Required<Omit<TunnelBackoffOptions, 'random'>>;

/**
 * Between arrivals. Capped at 3 s: after a manager restart the agent must be back within seconds, since
 * intercepts re-created by their clients are only ACTIVE once the workload's agents arrived (issue 18).
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 3_000, multiplier: 2, jitter: 0.2 };

export interface SessionLoopDeps {
  readonly api: AgentManagerApi;
  readonly agent: manager.AgentInfo;
  readonly log: Logger;
  readonly remainIntervalMs: number;
  readonly backoff?: BackoffOptions;
  readonly random?: () => number;
  /** Called on every arrival; resolving or rejecting ends the session. Must stop when `signal` aborts. */
  readonly onSession: (session: common.SessionInfo, signal: AbortSignal) => Promise<void>;
  /** Observability/tests: the state changes of the loop. */
  readonly onState?: (state: 'arriving' | 'active' | 'lost' | 'stopped', detail?: string) => void;
}

export async function runSessionLoop(deps: SessionLoopDeps, signal: AbortSignal): Promise<void> {
  const { api, log } = deps;
  const backoff = new Backoff({ ...(deps.backoff ?? DEFAULT_BACKOFF), random: deps.random ?? Math.random });
  while (!signal.aborted) {
    deps.onState?.('arriving');
    let session: common.SessionInfo;
    try {
      session = await api.arrive(deps.agent, signal);
    } catch (e) {
      if (signal.aborted) break;
      const delay = backoff.next();
      log.warn({ err: errorText(e), retryInMs: delay }, 'cannot arrive at the traffic-manager');
      api.renew?.();
      await sleep(delay, signal);
      continue;
    }
    backoff.reset();
    log.info({ session: session.sessionId }, 'arrived at the traffic-manager');
    deps.onState?.('active');
    const why = await runSession(deps, session, signal);
    if (signal.aborted) {
      await departQuietly(api, session, log);
      break;
    }
    deps.onState?.('lost', why);
    const delay = backoff.next();
    log.warn({ session: session.sessionId, why, retryInMs: delay }, 'session with the traffic-manager ended');
    await sleep(delay, signal);
  }
  deps.onState?.('stopped');
}

/** Runs one session until it ends; resolves with why. */
async function runSession(
  deps: SessionLoopDeps,
  session: common.SessionInfo,
  outer: AbortSignal,
): Promise<string> {
  const ctl = new AbortController();
  const stop = (why: string): void => {
    if (!ctl.signal.aborted) ctl.abort(new Error(why));
  };
  const onOuter = (): void => stop('agent stopping');
  outer.addEventListener('abort', onOuter, { once: true });
  const remain = (async () => {
    while (!ctl.signal.aborted) {
      await sleep(deps.remainIntervalMs, ctl.signal);
      if (ctl.signal.aborted) return;
      try {
        await deps.api.remain(session, ctl.signal);
      } catch (e) {
        stop(`Remain failed: ${errorText(e)}`);
      }
    }
  })();
  const work = deps.onSession(session, ctl.signal).then(
    () => stop('session tasks ended'),
    (e: unknown) => stop(`session task failed: ${errorText(e)}`),
  );
  await new Promise<void>((resolve) =>
    ctl.signal.aborted ? resolve() : ctl.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  outer.removeEventListener('abort', onOuter);
  await Promise.all([remain, work]);
  return (ctl.signal.reason as Error).message;
}

async function departQuietly(api: AgentManagerApi, session: common.SessionInfo, log: Logger): Promise<void> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 1000);
  try {
    await api.depart(session, ctl.signal);
    log.info({ session: session.sessionId }, 'departed');
  } catch (e) {
    log.debug({ err: errorText(e) }, 'depart failed (the manager expires the session)');
  } finally {
    clearTimeout(timer);
  }
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
