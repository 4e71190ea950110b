// One UDP 4-tuple: datagrams from the application are readable chunks, written chunks go back to it.
import { Duplex } from 'node:stream';
import { ConnectSignal } from '../connect-signal.js';
import type { FlowId } from '../flow-handler.js';
import { CONNECTION_CLOSED } from '../tcp/tcp-connection.js';

/** A copy of a datagram's IP packet and where its payload is inside. */
export interface PendingDatagram {
  packet: Buffer;
  dataOff: number;
  dataLen: number;
}

export interface UdpHost {
  sendDatagram(flow: UdpFlowImpl, data: Buffer): void;
  removeUdp(flow: UdpFlowImpl): void;
}

export class UdpFlowImpl extends Duplex {
  state: 'pending' | 'open' | 'closed' = 'pending';
  lastActive = 0;
  /** Datagrams that arrived while the handler decided (raw packet copies, for ICMP errors too). */
  pending: PendingDatagram[] = [];
  /** Aborted if the flow ends while the handler decides on it (flow-handler.ts). */
  readonly signal = new ConnectSignal();

  constructor(
    private readonly host: UdpHost,
    readonly id: FlowId,
    readonly family: 4 | 6,
    readonly local: Buffer,
    readonly remote: Buffer,
    readonly localPort: number,
    readonly remotePort: number,
    readonly key: number,
  ) {
    super({ objectMode: true, allowHalfOpen: true, readableHighWaterMark: 256, writableHighWaterMark: 256 });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.state === 'closed') {
      cb();
      return;
    }
    if (!Buffer.isBuffer(chunk)) {
      cb(new TypeError('UDP flows carry Buffers, one per datagram'));
      return;
    }
    this.host.sendDatagram(this, chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.forget();
    cb(err);
  }

  forget(): void {
    if (this.state === 'closed') return;
    const deciding = this.state === 'pending';
    this.state = 'closed';
    this.pending = [];
    if (deciding) this.signal.abort(CONNECTION_CLOSED);
    this.host.removeUdp(this);
  }
}
