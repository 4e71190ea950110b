// The workstation end of inbound intercept traffic: the manager asks this client, on its WatchDial
// stream, to open a Tunnel for a flow an agent received (conn id: in-cluster caller -> 127.0.0.1:LOCAL);
// the client opens it with the same conn id and dials the destination on this machine (libs/tunnel's
// dialer). A refused local port becomes DIAL_REJECT, which the agent turns into a reset for the caller.
//
// The watch follows the session: when it ends (manager restart, new session after expiry) it is opened
// again with the current session after a short backoff, until stop().
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { ManagerClient, common } from '@telepresence/rpc';
import { ConnId, openTunnel, serveDialer, type TunnelClient } from '@telepresence/tunnel';

const NS_PER_MS = 1_000_000;

export interface DialResponderDeps {
  readonly client: () => ManagerClient;
  /** Where the Tunnel calls go (the client's Http2TunnelClient); `client()` if not given. */
  readonly tunnels?: () => TunnelClient;
  /** The current session, or undefined while there is none. */
  readonly session: () => common.SessionInfo | undefined;
  readonly log: Logger;
  readonly defaultDialTimeoutMs?: number;
  readonly retryMs?: { initial: number; max: number };
}

export interface DialResponder {
  readonly stats: { requests: number; dialed: number; rejected: number };
  stop(): void;
}

export function startDialResponder(deps: DialResponderDeps): DialResponder {
  const log = deps.log.child({ component: 'dial-responder' });
  const stats = { requests: 0, dialed: 0, rejected: 0 };
  const retry = deps.retryMs ?? { initial: 100, max: 3000 };
  let delay = retry.initial;
  let stopped = false;
  let call: ClientReadableStream<common.DialRequest> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const answer = (session: common.SessionInfo, req: common.DialRequest): void => {
    stats.requests++;
    let id: ConnId;
    try {
      id = ConnId.fromBytes(req.connId);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'dial request with a bad connection id');
      return;
    }
    const dialTimeoutMs =
      req.dialTimeout > 0 ? Number(req.dialTimeout) / NS_PER_MS : (deps.defaultDialTimeoutMs ?? 3000);
    openTunnel(deps.tunnels?.() ?? deps.client(), {
      id,
      sessionId: session.sessionId,
      dialTimeoutMs,
      roundtripLatencyMs: Number(req.roundtripLatency) / NS_PER_MS,
    })
      .then((stream) => serveDialer(stream, { defaultDialTimeoutMs: deps.defaultDialTimeoutMs ?? 3000 }))
      .then(
        (end) => {
          if (end.reason === 'dial-rejected') stats.rejected++;
          else stats.dialed++;
          log.debug({ connId: id.toString(), reason: end.reason }, 'inbound flow ended');
        },
        (e: unknown) =>
          log.warn({ connId: id.toString(), err: (e as Error).message }, 'cannot answer a dial request'),
      );
  };

  const watch = (): void => {
    timer = undefined;
    if (stopped) return;
    const session = deps.session();
    if (session === undefined) {
      schedule();
      return;
    }
    const c = deps.client().watchDial({ session });
    call = c;
    c.on('data', (req: common.DialRequest) => {
      delay = retry.initial;
      answer(session, req);
    });
    const ended = (why: string): void => {
      if (call !== c) return;
      call = undefined;
      if (!stopped) {
        log.debug({ why }, 'WatchDial ended; watching again');
        schedule();
      }
    };
    c.on('error', (e: Error) => ended(e.message));
    c.on('end', () => ended('end'));
  };

  const schedule = (): void => {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(watch, delay);
    timer.unref();
    delay = Math.min(retry.max, delay * 2);
  };

  watch();
  return {
    stats,
    stop() {
      stopped = true;
      clearTimeout(timer);
      const c = call;
      call = undefined;
      c?.cancel();
    },
  };
}
