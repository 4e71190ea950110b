// Where a flow meets a transport: open a flow on a Tunnel call (an Http2TunnelClient, or a grpc-js
// client's `tunnel()`), accept one on a server call (a FrameChannel from serveTunnelCalls, or a grpc-js
// call), and serve a dialer as a ready-made `tunnel` handler.
import type { ClientDuplexStream, ServerDuplexStream } from '@grpc/grpc-js';
import { serveDialer, type DialerOptions } from './endpoints/dialer.js';
import type { FrameChannel } from './protocol/channel.js';
import { TunnelError } from './protocol/errors.js';
import { silentLogger, type Logger } from './protocol/log.js';
import {
  acceptStream,
  openStream,
  type OpenInit,
  type StreamOptions,
  type TunnelStream,
} from './protocol/stream.js';
import { grpcClientChannel, grpcServerChannel, type TunnelMessageLike } from './transports/grpc-channel.js';
import type { TunnelChannelOpener } from './transports/http2-client.js';

/** Anything with a grpc-js tunnel bidi method: ManagerClient, AgentClient. */
export interface GrpcTunnelClient {
  tunnel(): ClientDuplexStream<TunnelMessageLike, TunnelMessageLike>;
}

/** Where tunnel calls are made: a grpc-js client, or an Http2TunnelClient (the apps' choice). */
export type TunnelClient = GrpcTunnelClient | TunnelChannelOpener;

export type TunnelCall = ServerDuplexStream<TunnelMessageLike, TunnelMessageLike>;

/** Starts a tunnel call and runs the opener handshake. The stream is paused: attach, then resume(). */
export async function openTunnel(
  client: TunnelClient,
  init: OpenInit,
  options: StreamOptions = {},
): Promise<TunnelStream> {
  const channel = 'openChannel' in client ? client.openChannel() : grpcClientChannel(client.tunnel());
  return openStream(channel, init, options);
}

/**
 * Runs the acceptor handshake on a server-side tunnel call: a grpc-js call, or a FrameChannel from
 * serveTunnelCalls.
 */
export function acceptTunnel(
  call: TunnelCall | FrameChannel,
  options: StreamOptions = {},
): Promise<TunnelStream> {
  return acceptStream(isFrameChannel(call) ? call : grpcServerChannel(call), options);
}

function isFrameChannel(x: TunnelCall | FrameChannel): x is FrameChannel {
  return typeof (x as Partial<FrameChannel>).start === 'function';
}

/**
 * A `tunnel` handler for a grpc-js service implementation that dials every incoming flow's
 * destination (the manager dialing from its pod, an agent dialing from its pod, the client dialing
 * localhost for an intercept). Handshake failures end the call with a clear status and a log line.
 */
export function dialerHandler(
  options: StreamOptions & DialerOptions = {},
): (call: TunnelCall | FrameChannel) => void {
  const log = (options.log ?? silentLogger).child({ component: 'tunnel.dialer' });
  return (call) => {
    acceptTunnel(call, { ...options, log })
      .then((stream) => serveDialer(stream, options))
      .catch((e: unknown) => logHandshakeFailure(log, e));
  };
}

/**
 * Logs why an accepted call never became a stream. A call cancelled before its OPEN is a client that
 * went away, or a request made ahead for a flow that never came (http2-client.ts): debug, not a warning.
 */
export function logHandshakeFailure(log: Logger, e: unknown): void {
  const err = TunnelError.from(e, 'protocol');
  if (err.code === 'transport') log.debug({ err: err.message }, 'tunnel call ended before its OPEN');
  else log.warn({ err: err.message }, 'tunnel handshake failed');
}
