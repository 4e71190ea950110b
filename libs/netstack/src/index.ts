export { Netstack, type NetstackOptions } from './stack.js';
export { ConnectSignal, type AbortListener } from './connect-signal.js';
export type { FlowHandler, FlowId, TcpFlow, UdpFlow, AttachTcp, AttachUdp } from './flow-handler.js';
export type { NetstackStats } from './stats.js';
export type { PacketDevice, PacketBatch } from './device.js';
export { TunDevice, TunOpenError, type OpenTunOptions } from './tun/tun-device.js';
export * as linkConfig from './tun/link-config.linux.js';
export type { TcpState } from './tcp/tcp-connection.js';
export { MemoryDevice } from './testing/memory-device.js';
