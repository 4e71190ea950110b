// The workstation end of inbound intercept traffic: the manager asks this client, on its WatchDial
// stream, to open a Tunnel for a flow an agent received (conn id: in-cluster caller -> 127.0.0.1:LOCAL);
// the client opens it with the same conn id and dials the destination on this machine (libs/tunnel's
// answerDial, as the agent does for outbound flows). A refused local port becomes DIAL_REJECT, which the
// agent turns into a reset for the caller.
//
// The watch follows the session: when it ends (manager restart, new session after expiry) it is opened
// again with the current session after a backoff, until stop().
import type { Logger } from 'pino';

import { Backoff, ConnIdError, answerDial, sleep, type BackoffOptions } from '@telepresence/tunnel';

import { errorText, type ManagerApi, type SessionInfo } from '../manager/manager-api.js';

export interface DialResponderDeps {
  readonly api: Pick<ManagerApi, 'watchDial' | 'tunnels'>;
  /** The current session, or undefined while there is none. */
  readonly session: () => SessionInfo | undefined;
  readonly log: Logger;
  readonly defaultDialTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
}

export interface DialResponder {
  readonly stats: { requests: number; dialed: number; rejected: number };
  stop(): void;
}

export function startDialResponder(deps: DialResponderDeps): DialResponder {
  const log = deps.log.child({ component: 'dial-responder' });
  const stats = { requests: 0, dialed: 0, rejected: 0 };
  const backoff = new Backoff({ initialMs: 100, maxMs: 3000, multiplier: 2, ...deps.backoff });
  const stopped = new AbortController();
  const defaultDialTimeoutMs = deps.defaultDialTimeoutMs ?? 3000;

  const answer = (session: SessionInfo, req: Parameters<typeof answerDial>[1]): void => {
    stats.requests++;
    answerDial(deps.api.tunnels, req, { sessionId: session.sessionId, defaultDialTimeoutMs }).then(
      ({ id, end }) => {
        if (end.reason === 'dial-rejected') stats.rejected++;
        else stats.dialed++;
        log.debug({ connId: id.toString(), reason: end.reason }, 'inbound flow ended');
      },
      (e: unknown) =>
        e instanceof ConnIdError
          ? log.warn({ err: errorText(e) }, 'dial request with a bad connection id')
          : log.warn({ err: errorText(e) }, 'cannot answer a dial request'),
    );
  };

  const watch = async (): Promise<void> => {
    const signal = stopped.signal;
    while (!signal.aborted) {
      const session = deps.session();
      if (session !== undefined) {
        let why = 'end';
        try {
          for await (const req of deps.api.watchDial(session, signal)) {
            backoff.reset();
            answer(session, req);
          }
        } catch (e) {
          why = errorText(e);
        }
        if (signal.aborted) return;
        log.debug({ why }, 'WatchDial ended; watching again');
      }
      await sleep(backoff.next(), signal);
    }
  };

  void watch();
  return {
    stats,
    stop: () => stopped.abort(),
  };
}
