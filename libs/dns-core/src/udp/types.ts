// The UDP endpoint's interface, apart from endpoint.ts (which picks and opens an implementation) so that
// the implementations import this file and not the one that imports them.
import type { DnsLogger } from '../logger.js';

/**
 * One datagram in, one reply (or nothing) out. `msg` is only valid during the call (the native transport
 * reuses its receive buffer): copy it before keeping it across an await.
 */
export type UdpHandler = (msg: Buffer, source: string) => Buffer | Promise<Buffer | undefined> | undefined;

/** 'auto' (default): native where available, else dgram. 'native' fails when the addon is unavailable. */
export type UdpTransportChoice = 'auto' | 'native' | 'dgram';
export type UdpTransportKind = 'native' | 'dgram';

export interface UdpEndpointOptions {
  readonly address: string;
  /** 0 lets the kernel pick. */
  readonly port: number;
  /** Asked of the kernel for both directions (capped at net.core.[rw]mem_max). */
  readonly bufferBytes: number;
  /** Bytes of the largest datagram handed to the handler; longer ones arrive cut to maxMessage + 1. */
  readonly maxMessage: number;
  readonly log: DnsLogger;
}

export interface UdpEndpoint {
  readonly kind: UdpTransportKind;
  readonly port: number;
  /** Stops receiving and closes the socket; replies still pending are not sent. Idempotent. */
  close(): Promise<void>;
}
