// @telepresence/tunnel: the tunnel protocol over gRPC bidi streams. See README.md.
// Only what the apps, tools and e2e tests use; the package's own tests import its files directly.
//   protocol/    the flow: frames, the stream state machine, the channel interface under it
//   transports/  gRPC Tunnel calls on node:http2 (the apps') and grpc-js, HTTP/2 windows
//   endpoints/   what a flow ends in: a TCP or UDP socket, a dialer, another stream (splice)
export { ConnId, ConnIdError } from './protocol/connid.js';
export { TunnelError, dialRejectReason } from './protocol/errors.js';
export { memoryLogger, type Logger } from './protocol/log.js';
export type { FrameChannel } from './protocol/channel.js';
export type { StreamEnd, TunnelStream } from './protocol/stream.js';
export { Backoff, sleep, type BackoffOptions } from './backoff.js';
export { HEAP_GROWING_PERCENT, tuneHeapForStreaming } from './heap-tuning.js';
export { answerDial, type AnswerDialOptions, type DialAnswer, type DialRequestLike } from './answer-dial.js';
export {
  acceptTunnel,
  dialerHandler,
  logHandshakeFailure,
  openTunnel,
  type GrpcTunnelClient,
  type TunnelCall,
  type TunnelClient,
} from './calls.js';
export { pumpSocket } from './endpoints/tcp.js';
export { dialTcp, serveDialer } from './endpoints/dialer.js';
export { splice } from './endpoints/splice.js';
export { Http2TunnelClient, MANAGER_TUNNEL_PATH } from './transports/http2-client.js';
export { serveTunnelCalls } from './transports/grpc-server-hooks.js';
export type { TunnelMessageLike } from './transports/grpc-channel.js';
export { fastTunnelClient, withFastTunnelCodec } from './transports/grpc-codec.js';
export {
  MAX_WINDOW_BYTES,
  MIN_WINDOW_BYTES,
  TUNNEL_CONNECTION_WINDOW_BYTES,
  TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
  TUNNEL_STREAM_WINDOW_BYTES,
  tunnelChannelOptions,
  tuneTunnelServer,
} from './transports/flow-control.js';
