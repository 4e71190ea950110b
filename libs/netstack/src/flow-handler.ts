// The contract between the stack and whoever carries flows further (the client, through libs/tunnel).
import type { Duplex } from 'node:stream';
import type { ConnectSignal } from './connect-signal.js';

/** One flow as the application sees it: src is the application, dst the address it connected to. */
export interface FlowId {
  readonly family: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
}

/**
 * An accepted TCP flow: bytes from the application are readable, bytes written go to the application.
 * - `end()` sends FIN after everything written is acknowledged; the readable side ends when the
 *   application sends FIN (half-close works both ways: the Duplex has allowHalfOpen).
 * - Back-pressure: not reading shrinks the advertised TCP receive window; write() returns false
 *   when the send buffer (unacknowledged + unsent) is full.
 * - `destroy()` (with or without an error) before both sides finished resets the connection (RST).
 *   A reset from the application destroys the Duplex with an ECONNRESET error.
 */
export type TcpFlow = Duplex & { readonly id: FlowId };

/**
 * An accepted UDP flow in object mode: each chunk read is one datagram from the application, each
 * chunk written is sent to it as one datagram. It ends (readable end, then close) after the idle
 * timeout without traffic either way.
 */
export type UdpFlow = Duplex & { readonly id: FlowId };

/** Called with the flow once accepted. The flow belongs to the handler from then on. */
export type AttachTcp = (flow: TcpFlow) => void;
export type AttachUdp = (flow: UdpFlow) => void;

export interface FlowHandler {
  /**
   * A SYN arrived for a new connection. Resolve (after the far side accepted, e.g. the tunnel's DialOK)
   * to let the stack answer SYN-ACK; the returned function then receives the flow. Reject (any error)
   * to answer RST, so the application's connect() fails with ECONNREFUSED. If neither happens within
   * the stack's connectTimeoutMs, the stack resets and aborts `signal`; it also aborts it if the
   * connection ends otherwise before then (the stack closed). After that,
   * `signal` never aborts. The handler may abort it itself (then reject, as for any failure).
   */
  onTcpConnect(id: FlowId, signal: ConnectSignal): Promise<AttachTcp>;
  /**
   * The first datagram of a new UDP 4-tuple arrived (more are queued meanwhile). Reject to answer
   * ICMP port unreachable. Optional: without it UDP is rejected.
   */
  onUdpFlow?(id: FlowId, signal: ConnectSignal): Promise<AttachUdp>;
}
