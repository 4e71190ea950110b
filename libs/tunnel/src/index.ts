// @telepresence/tunnel: the tunnel protocol over gRPC bidi streams. See README.md.
export {
  ConnId,
  ConnIdError,
  type ConnIdErrorCode,
  type ConnIdKey,
  type Endpoint,
  type Protocol,
} from './connid.js';
export {
  DEFAULT_MAX_FRAME_BYTES,
  FrameError,
  MAX_STRING_BYTES,
  MessageCode,
  decodeMessage,
  encodeData,
  encodeMessage,
  messageName,
  type FrameErrorCode,
  type Message,
  type MessageType,
} from './codec.js';
export { Backoff, sleep, type BackoffOptions } from './backoff.js';
export { TunnelError, dialRejectReason, socketErrorCode, type TunnelErrorCode } from './errors.js';
export { memoryLogger, silentLogger, type LogLine, type Logger } from './log.js';
export {
  MemoryChannel,
  grpcClientChannel,
  grpcServerChannel,
  memoryChannelPair,
  type ChannelHandlers,
  type FrameChannel,
  type TunnelMessageLike,
} from './channel.js';
export {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  TunnelStream,
  acceptStream,
  openStream,
  type DialOutcome,
  type EndReason,
  type OpenInit,
  type StreamEnd,
  type StreamOptions,
  type StreamStats,
} from './stream.js';
export { pumpSocket } from './tcp.js';
export { pumpDatagrams, type DatagramPump } from './udp.js';
export { dialTcp, serveDialer, type DialTcpOptions, type DialerOptions } from './dialer.js';
export { answerDial, type AnswerDialOptions, type DialAnswer, type DialRequestLike } from './answer-dial.js';
export { splice } from './splice.js';
export {
  acceptTunnel,
  dialerHandler,
  openTunnel,
  type GrpcTunnelClient,
  type TunnelCall,
  type TunnelClient,
} from './grpc.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  GrpcFramingError,
  GrpcMessageReader,
  http2ClientChannel,
  http2ServerChannel,
} from './http2-channel.js';
export { http2RequestChannel } from './http2-request-channel.js';
export { FRAMES_HEADER, OPEN_HEADER } from './handshake-headers.js';
export { BdpWindow, bdpWindowOf } from './bdp.js';
export {
  Http2TunnelClient,
  MANAGER_TUNNEL_PATH,
  type Http2TunnelClientOptions,
  type TunnelChannelOpener,
} from './http2-client.js';
export { onHttp2Servers, serveTunnelCalls } from './grpc-server-hooks.js';
export {
  deserializeTunnelMessage,
  fastTunnelClient,
  serializeTunnelMessage,
  withFastTunnelCodec,
} from './grpc-codec.js';
export {
  MAX_WINDOW_BYTES,
  MIN_WINDOW_BYTES,
  TUNNEL_CONNECTION_WINDOW_BYTES,
  TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
  TUNNEL_STREAM_WINDOW_BYTES,
  tunnelChannelOptions,
  tuneTunnelServer,
  type TunnelWindows,
} from './flow-control.js';
