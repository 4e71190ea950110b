// Answering a manager's dial request (WatchDial): open a Tunnel with the request's conn id and dial its
// destination from here (serveDialer). The agent answers the flows of clients (connection origin), the
// client answers intercepted flows (127.0.0.1:LOCAL); both go through this one function.
import { ConnId } from './protocol/connid.js';
import { serveDialer } from './endpoints/dialer.js';
import { openTunnel, type TunnelClient } from './calls.js';
import type { Logger } from './protocol/log.js';
import type { StreamEnd } from './protocol/stream.js';

const NS_PER_MS = 1_000_000;

/** The fields of the rpc DialRequest this needs (durations in nanoseconds). */
export interface DialRequestLike {
  readonly connId: Uint8Array;
  readonly dialTimeout: number;
  readonly roundtripLatency: number;
}

export interface AnswerDialOptions {
  /** The answering side's session, sent in the Tunnel's OPEN. */
  readonly sessionId: string;
  /** Used when the request carries no dial timeout. */
  readonly defaultDialTimeoutMs: number;
  /** The stream's logger gets the conn id as a binding. */
  readonly log?: Logger;
  /** Called once the Tunnel is open, before the dial. */
  readonly onOpened?: () => void;
}

export interface DialAnswer {
  readonly id: ConnId;
  readonly end: StreamEnd;
}

/**
 * Resolves when the flow ended (`end.reason: 'dial-rejected'` when the destination refused). Throws a
 * ConnIdError for a malformed conn id (nothing opened), any other error when the Tunnel cannot be opened.
 */
export async function answerDial(
  tunnels: TunnelClient,
  request: DialRequestLike,
  options: AnswerDialOptions,
): Promise<DialAnswer> {
  const id = ConnId.fromBytes(request.connId);
  const dialTimeoutMs =
    request.dialTimeout > 0
      ? Math.ceil(Number(request.dialTimeout) / NS_PER_MS)
      : options.defaultDialTimeoutMs;
  const stream = await openTunnel(
    tunnels,
    {
      id,
      sessionId: options.sessionId,
      dialTimeoutMs,
      roundtripLatencyMs: Number(request.roundtripLatency) / NS_PER_MS,
    },
    options.log === undefined ? {} : { log: options.log.child({ connId: id.toString() }) },
  );
  options.onOpened?.();
  return { id, end: await serveDialer(stream, { defaultDialTimeoutMs: options.defaultDialTimeoutMs }) };
}
