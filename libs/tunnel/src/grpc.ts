// Glue for grpc-js: open a flow on a `Manager.tunnel()` / `Agent.tunnel()` client call, accept one in a
// server handler, and serve a dialer as a ready-made `tunnel` handler.
import type { ClientDuplexStream, ServerDuplexStream } from '@grpc/grpc-js';
import { grpcClientChannel, grpcServerChannel, type TunnelMessageLike } from './channel.js';
import { serveDialer, type DialerOptions } from './dialer.js';
import { TunnelError } from './errors.js';
import { silentLogger } from './log.js';
import { acceptStream, openStream, type OpenInit, type StreamOptions, type TunnelStream } from './stream.js';

/** Anything with a tunnel bidi method: ManagerClient, AgentClient. */
export interface TunnelClient {
  tunnel(): ClientDuplexStream<TunnelMessageLike, TunnelMessageLike>;
}

export type TunnelCall = ServerDuplexStream<TunnelMessageLike, TunnelMessageLike>;

/** Starts a tunnel call and runs the opener handshake. The stream is paused: attach, then resume(). */
export function openTunnel(
  client: TunnelClient,
  init: OpenInit,
  options: StreamOptions = {},
): Promise<TunnelStream> {
  return openStream(grpcClientChannel(client.tunnel()), init, options);
}

/** Runs the acceptor handshake on a server-side tunnel call. */
export function acceptTunnel(call: TunnelCall, options: StreamOptions = {}): Promise<TunnelStream> {
  return acceptStream(grpcServerChannel(call), options);
}

/**
 * A `tunnel` handler for a grpc-js service implementation that dials every incoming flow's
 * destination (the manager dialing from its pod, an agent dialing from its pod, the client dialing
 * localhost for an intercept). Handshake failures end the call with a clear status and a log line.
 */
export function dialerHandler(options: StreamOptions & DialerOptions = {}): (call: TunnelCall) => void {
  const log = (options.log ?? silentLogger).child({ component: 'tunnel.dialer' });
  return (call) => {
    acceptTunnel(call, { ...options, log })
      .then((stream) => serveDialer(stream, options))
      .catch((e: unknown) =>
        log.warn({ error: TunnelError.from(e, 'protocol').message }, 'tunnel handshake failed'),
      );
  };
}
