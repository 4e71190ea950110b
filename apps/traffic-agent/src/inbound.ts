// Inbound intercept traffic (seed "Inbound", reference 7): an accepted caller connection becomes a tunnel
// over the agent's existing gRPC connection to the manager. The stream is opened with the agent's own
// session, then a SESSION frame names the intercepting client; the manager asks that client to open the
// matching stream and splices the two; the client dials localhost:LOCAL on the workstation. No new
// port or connection is involved, so a service mesh sees nothing new.
//
// The ConnId says who calls and where to: source = the in-cluster caller, destination = the loopback
// address (of the caller's family) and the intercept's local port on the workstation.
//
// Failure mapping for the caller: the workstation refusing (DIAL_REJECT), the manager or client being
// unreachable, or the tunnel breaking with an error all reset the caller's connection (RST), so the
// in-cluster caller sees a refusal/reset instead of a hang or a clean-looking empty response.
import type { Socket } from 'node:net';

import { ConnId, openTunnel, pumpSocket, type TunnelClient, type StreamEnd } from '@telepresence/tunnel';

import type { ActiveIntercept } from './intercept-table.js';
import type { Logger } from './log.js';
import { reset } from './port-forwarder.js';

export interface InboundDeps {
  readonly tunnels: TunnelClient;
  /** The agent's current session id (the stream's opener). */
  readonly sessionId: string;
  readonly dialTimeoutMs: number;
  readonly log: Logger;
  readonly onEnd?: (end: StreamEnd | undefined, intercept: ActiveIntercept) => void;
}

export function tunnelInbound(deps: InboundDeps, intercept: ActiveIntercept, caller: Socket): void {
  const rawIp = caller.remoteAddress ?? '';
  const callerIp = rawIp.startsWith('::ffff:') ? rawIp.slice(7) : rawIp;
  const callerPort = caller.remotePort ?? 0;
  const v6 = callerIp.includes(':');
  let id: ConnId;
  try {
    id = ConnId.of(
      'tcp',
      { ip: callerIp, port: callerPort },
      { ip: v6 ? '::1' : '127.0.0.1', port: intercept.localPort },
    );
  } catch (e) {
    deps.log.warn({ caller: rawIp, err: (e as Error).message }, 'cannot name the inbound flow');
    reset(caller);
    deps.onEnd?.(undefined, intercept);
    return;
  }
  const log = deps.log.child({ intercept: intercept.name, connId: id.toString() });
  // Until the tunnel is up, the caller's bytes wait in the kernel (the server paused on connect).
  const onEarlyClose = (): void => abort.abort();
  const abort = new AbortController();
  caller.once('close', onEarlyClose);
  caller.on('error', () => {}); // reported through 'close'; the tunnel side logs the reason
  openTunnel(
    deps.tunnels,
    { id, sessionId: deps.sessionId, dialTimeoutMs: deps.dialTimeoutMs },
    { log, signal: abort.signal },
  ).then(
    (stream) => {
      caller.off('close', onEarlyClose);
      stream.sendSession(intercept.clientSessionId);
      // Registered before pumpSocket's own handler, so a rejected dial resets instead of FIN-closing;
      // onClosed, so this also happens when the stream ended before openTunnel's result got here.
      stream.onClosed((end) => {
        if (end.reason === 'dial-rejected' || end.error !== undefined) reset(caller);
      });
      pumpSocket(stream, caller).then(
        (end) => {
          log.debug(
            { reason: end.reason, sent: end.stats.bytesSent, received: end.stats.bytesReceived },
            'inbound flow ended',
          );
          deps.onEnd?.(end, intercept);
        },
        () => {},
      );
      caller.resume();
    },
    (e: unknown) => {
      caller.off('close', onEarlyClose);
      log.warn(
        { err: (e as Error).message },
        'cannot open a tunnel to the traffic-manager; resetting the caller',
      );
      reset(caller);
      deps.onEnd?.(undefined, intercept);
    },
  );
}
