// HTTP/2 flow-control windows for the connections that carry tunnels.
// grpc-js keeps HTTP/2's initial windows of 64 KiB, so at most 64 KiB are in flight per round trip:
// about 0.9 MiB/s through a port-forward with a 40 ms round trip, for all the flows of a connection.
// (The Go original grows its windows by BDP estimation, up to 16 MiB.) Node consumes the connection
// window as data arrives and a stream's window only as the application reads, so a paused flow holds at
// most its stream window at the receiver: the stream window is a per-flow memory bound, the connection
// window is not.
import type { ChannelOptions, Server } from '@grpc/grpc-js';
import type { ServerHttp2Session } from 'node:http2';
import { BdpWindow } from './bdp.js';
import { onHttp2Servers } from './grpc-server-hooks.js';

/** Per-stream receive window: what one paused flow may hold at the receiver, on top of maxBufferedBytes. */
export const TUNNEL_STREAM_WINDOW_BYTES = 2 * 1024 * 1024;
/**
 * Largest per-connection receive window: in flight per round trip for all the flows of a connection.
 * Connections start at TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES and grow towards it by BDP (bdp.ts).
 */
export const TUNNEL_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** Where a connection's receive window starts (bytes in the pipes in front of a new flow's dial). */
export const TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES = 512 * 1024;
/**
 * node:http2's maxSessionMemory (MB) on tunnel connections, both ends. Node counts every stream and every
 * byte written to a stream that the peer's window does not yet let out, and refuses new streams
 * (RST_STREAM ENHANCE_YOUR_CALM) while a connection is over it: at its default of 10 MB, 256 busy flows
 * made new flows fail with "connection refused". The memory is bounded per flow (stream window,
 * maxBufferedBytes, the pumps' back-pressure); this limit only guards against thousands of stalled flows.
 */
export const TUNNEL_SESSION_MEMORY_MB = 1024;
/** HTTP/2's initial (and smallest useful) window and its maximum. */
export const MIN_WINDOW_BYTES = 65_535;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

export interface TunnelWindows {
  /** Default TUNNEL_STREAM_WINDOW_BYTES. */
  streamWindowBytes?: number;
  /** Servers only (grpc-js clients use one value for both). Default TUNNEL_CONNECTION_WINDOW_BYTES. */
  connectionWindowBytes?: number;
  /** Servers only: where the connection window starts. Default TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES. */
  initialConnectionWindowBytes?: number;
}

/**
 * Channel options for a grpc-js client whose connection carries tunnels: its stream and connection
 * receive windows (grpc-js's public `grpc-node.flow_control_window` sets both to the same value).
 */
export function tunnelChannelOptions(windowBytes = TUNNEL_STREAM_WINDOW_BYTES): ChannelOptions {
  return { 'grpc-node.flow_control_window': checkedWindow(windowBytes, 'windowBytes') };
}

/**
 * Gives the connections a grpc-js server accepts bigger receive windows. Call it before bindAsync.
 * grpc-js has no server option for this: the stream window goes into the SETTINGS of the HTTP/2 servers
 * it makes and each new session's connection window is raised, through grpc-server-hooks.ts. Returns
 * false, changing nothing, when grpc-js's internals are not there (a grpc-js other than the pinned 1.14):
 * the server then works with the default windows. `flow-control.spec.ts` checks the windows a real peer
 * sees, so such an upgrade fails the tests.
 */
export function tuneTunnelServer(server: Server, windows: TunnelWindows = {}): boolean {
  const stream = checkedWindow(windows.streamWindowBytes ?? TUNNEL_STREAM_WINDOW_BYTES, 'streamWindowBytes');
  const connection = checkedWindow(
    windows.connectionWindowBytes ?? TUNNEL_CONNECTION_WINDOW_BYTES,
    'connectionWindowBytes',
  );
  const initial = checkedWindow(
    windows.initialConnectionWindowBytes ?? TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
    'initialConnectionWindowBytes',
  );
  return onHttp2Servers(
    server,
    (http2Server) =>
      http2Server.on('session', (session: ServerHttp2Session) =>
        BdpWindow.attach(session, initial, connection),
      ),
    (common) => {
      common.settings = { ...common.settings, initialWindowSize: stream };
      common.maxSessionMemory = TUNNEL_SESSION_MEMORY_MB;
    },
  );
}

/** @internal */
export function checkedWindow(bytes: number, name: string): number {
  if (!Number.isInteger(bytes) || bytes < MIN_WINDOW_BYTES || bytes > MAX_WINDOW_BYTES)
    throw new RangeError(
      `${name} must be an integer from ${MIN_WINDOW_BYTES} to ${MAX_WINDOW_BYTES} bytes, not ${bytes}`,
    );
  return bytes;
}
