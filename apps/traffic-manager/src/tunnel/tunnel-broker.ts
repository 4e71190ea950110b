import type { ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';

import type { common, manager } from '@telepresence/rpc';
import type { FrameChannel } from '@telepresence/tunnel';

import type { Session } from '../sessions/session-registry.js';

export type TunnelCall = ServerDuplexStream<common.TunnelMessage, common.TunnelMessage>;

/** Whether a Tunnel stream may use the session it names (auth/guard.ts): undefined = yes, else why not. */
export type TunnelAdmission = (sessionId: string) => Promise<string | undefined>;

/** The tunnel side of the Manager service: Tunnel streams and WatchDial (tunnel-router.ts implements it). */
export interface TunnelBroker {
  /**
   * Handles one Tunnel call until it ends; reports failures on the call itself. A FrameChannel is a call
   * served on node:http2 ahead of grpc-js (libs/tunnel serveTunnelCalls).
   */
  tunnel(call: TunnelCall | FrameChannel, admission?: TunnelAdmission): void;
  /** Streams the session's dial requests until the signal aborts. */
  watchDial(
    session: Session,
    call: ServerWritableStream<manager.WatchDialRequest, common.DialRequest>,
    signal: AbortSignal,
  ): Promise<void>;
}
