// One terminated TCP connection: the application's kernel on one side, a TcpFlow (Duplex) on the other.
// The stack is always the passive side (it answers SYNs), so only the states after LISTEN exist.
import { Duplex } from 'node:stream';
import { ConnectSignal } from '../connect-signal.js';
import type { FlowId, TcpFlow } from '../flow-handler.js';
import type { TxArena } from '../ip/tx-arena.js';
import type { NetstackStats } from '../stats.js';
import { ByteQueue } from './byte-queue.js';
import { SackScoreboard } from './sack-scoreboard.js';
import {
  ACK,
  FIN,
  PSH,
  RST,
  SYN,
  seqDiff,
  synAckOptions,
  writeSegment,
  type Segment,
  type TcpEndpoints,
} from './segment.js';

export type TcpState =
  | 'connecting' // SYN received, waiting for the flow handler
  | 'syn-received' // SYN-ACK sent
  | 'established'
  | 'close-wait' // application sent FIN
  | 'last-ack'
  | 'fin-wait-1' // we sent FIN
  | 'fin-wait-2'
  | 'closing'
  | 'time-wait'
  | 'closed';

export interface TcpConfig {
  mtu: number;
  connectTimeoutMs: number;
  receiveBuffer: number;
  sendBuffer: number;
  timeWaitMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  maxRetransmits: number;
  /** The device hands us TSO super-segments: the TUN queue holds ~64 KiB per packet. */
  receiveOffload: boolean;
}

/** What a connection needs from the stack. */
export interface TcpHost {
  readonly arena: TxArena;
  readonly stats: NetstackStats;
  readonly config: TcpConfig;
  now(): number;
  /** Run flushOutput() on this connection before the next device write. */
  markDirty(conn: TcpConnection): void;
  /** Write what was built to the device soon (segments sent outside input processing). */
  requestFlush(): void;
  /** The connection has a deadline, a retransmission timer or a low window: tick it until it has none. */
  wantTimer(conn: TcpConnection): void;
  remove(conn: TcpConnection): void;
}

/**
 * Why a connection's signal aborts (a dial still running for it stops). One shared reason: abort() without
 * one makes a DOMException, stack trace included, for every connection that closes.
 */
export const CONNECTION_CLOSED: unknown = new DOMException('the connection closed', 'AbortError');

/**
 * How long the ACK of the application's FIN may wait for our own FIN to carry it (Linux's delayed-ACK
 * minimum): the far side usually closes within a round trip of the tunnel, so the close takes three
 * packets instead of four, one TUN write less per connection.
 */
export const FIN_ACK_DELAY_MS = 40;

const WSCALE = 7;
const MAX_WINDOW_SEGMENTS = 256;
const SMALL_SEGMENT = 16 << 10;
/** Largest super-segment payload: IP lengths are 16 bits. */
const GSO_MAX_PAYLOAD = 65000;
const RECEIVE_OFFLOAD_WINDOW = 4 << 20;

export class TcpConnection implements TcpEndpoints {
  state: TcpState = 'connecting';
  readonly family: 4 | 6;
  readonly local: Buffer;
  readonly remote: Buffer;
  readonly localPort: number;
  readonly remotePort: number;
  readonly key: number;
  readonly id: FlowId;
  flow: TcpFlowImpl | undefined;
  dirty = false;
  /** The last advertised window was small: the timer re-checks whether the reader made room. */
  windowLow = false;

  // Receive side.
  private readonly irs: number;
  private rcvNxt: number;
  private readonly rcvScale: number;
  private rcvRightEdge: number;
  private ackPending = false;
  /** When the delayed ACK of the peer's FIN goes out alone (0: none waiting). */
  ackDelayedUntil = 0;
  private ooo: Array<{ seq: number; data: Buffer; fin: boolean }> = [];
  private lastOooSeq = 0;
  /** SACK option bytes, made when there is first out-of-order data to describe. */
  private sackScratch: Buffer | undefined;
  private oooBytes = 0;
  private finReceived = false;
  private rx: Buffer[] = [];
  private rxBytes = 0;

  // Send side.
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number;
  private sndWnd = 0;
  private readonly sndScale: number;
  private readonly mss: number;
  /** Largest payload per packet we write: mss, or a multiple of it with GSO. */
  private readonly maxSegment: number;
  /** Receive window cap in bytes (see advertisedWindow). */
  private readonly windowCap: number;
  private readonly queue = new ByteQueue();
  private pendingWriteCb: ((err?: Error | null) => void) | undefined;
  private finQueued = false;
  private finSent = false;
  private finAcked = false;
  private finSeq = -1;
  private finalCb: ((err?: Error | null) => void) | undefined;

  // Congestion control (NewReno; with SACK, every known hole is resent within a round trip).
  private readonly sack = new SackScoreboard();
  /** In recovery: holes below this were already retransmitted. */
  private highRxt = 0;
  private cwnd: number;
  private ssthresh = 1 << 30;
  private dupAcks = 0;
  private inRecovery = false;
  private recover = 0;

  // Timers (absolute ms, 0 = off).
  private rto: number;
  private srtt = 0;
  private rttvar = 0;
  private rttSeq = -1;
  private rttStart = 0;
  rtoDeadline = 0;
  /** In the stack's set of connections its timer ticks (maintained by the stack). */
  ticked = false;
  private retries = 0;
  deadline = 0; // connect timeout or TIME_WAIT expiry

  /** Aborted if the connection ends while the handler decides on it (flow-handler.ts). */
  readonly signal = new ConnectSignal();

  constructor(
    private readonly host: TcpHost,
    id: FlowId,
    family: 4 | 6,
    local: Buffer,
    remote: Buffer,
    localPort: number,
    remotePort: number,
    key: number,
    seg: Segment,
    peerMss: number,
    peerScale: number,
    private readonly sackOk = false,
  ) {
    this.id = id;
    this.family = family;
    this.local = local;
    this.remote = remote;
    this.localPort = localPort;
    this.remotePort = remotePort;
    this.key = key;
    this.irs = seg.seq;
    this.rcvNxt = (seg.seq + 1) >>> 0;
    this.rcvScale = peerScale >= 0 ? WSCALE : 0;
    this.sndScale = peerScale >= 0 ? peerScale : 0;
    this.rcvRightEdge = this.rcvNxt;
    this.sndWnd = seg.window; // SYN windows are never scaled
    const ownMss = host.config.mtu - (family === 4 ? 40 : 60);
    this.mss = Math.max(64, Math.min(peerMss, ownMss));
    const cfg = host.config;
    // A vnetHdr device takes GSO super-segments: send up to ~64 KiB per packet (see ip/vnet-hdr.ts).
    this.maxSegment = host.arena.vnetHdr
      ? Math.max(this.mss, Math.floor(GSO_MAX_PAYLOAD / this.mss) * this.mss)
      : this.mss;
    // Packets in the TUN queue are what overflows; with receive offload each one carries up to 64 KiB.
    this.windowCap = cfg.receiveOffload
      ? Math.max(MAX_WINDOW_SEGMENTS * this.mss, RECEIVE_OFFLOAD_WINDOW)
      : MAX_WINDOW_SEGMENTS * this.mss;
    this.iss = (Math.random() * 0x100000000) >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.cwnd = 10 * this.mss;
    this.rto = 1000;
    this.deadline = host.now() + host.config.connectTimeoutMs;
    host.wantTimer(this);
  }

  // ---- handshake ----------------------------------------------------------------------------------

  /** The handler accepted: answer SYN-ACK and create the flow. */
  accept(): TcpFlowImpl {
    this.state = 'syn-received';
    this.deadline = 0;
    this.flow = new TcpFlowImpl(this, this.host.config);
    this.sendSynAck();
    this.sndNxt = (this.iss + 1) >>> 0;
    this.sndMax = this.sndNxt;
    this.armRto();
    return this.flow;
  }

  /** The handler rejected or timed out: RST so connect() fails with ECONNREFUSED. */
  refuse(): void {
    this.send(RST | ACK, 0, this.rcvNxt);
    this.host.stats.tcpResetsOut++;
    this.close();
  }

  private sendSynAck(): void {
    const ownMss = Math.min(this.host.config.mtu - (this.family === 4 ? 40 : 60), 65535);
    const options = synAckOptions(
      ownMss,
      this.sndScale > 0 || this.rcvScale > 0 ? this.rcvScale : -1,
      this.sackOk,
    );
    writeSegment(
      this.host.arena,
      this,
      this.iss,
      this.rcvNxt,
      SYN | ACK,
      Math.min(65535, this.host.config.receiveBuffer),
      null,
      0,
      0,
      options,
    );
  }

  /** SACK option describing the out-of-order data (RFC 2018), newest block first; null when none. */
  private sackOption(): Buffer | null {
    if (!this.sackOk || this.ooo.length === 0) return null;
    const blocks: number[] = [];
    let start = this.ooo[0]!.seq;
    let end = (start + this.ooo[0]!.data.length) >>> 0;
    for (let i = 1; i < this.ooo.length; i++) {
      const s = this.ooo[i]!;
      if (seqDiff(s.seq, end) <= 0) {
        const e = (s.seq + s.data.length) >>> 0;
        if (seqDiff(e, end) > 0) end = e;
      } else {
        blocks.push(start, end);
        start = s.seq;
        end = (s.seq + s.data.length) >>> 0;
      }
    }
    blocks.push(start, end);
    // The block holding the latest arrival goes first; the others follow, lowest first, up to 4.
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < blocks.length; i += 2) pairs.push([blocks[i]!, blocks[i + 1]!]);
    const latest = this.lastOooSeq;
    pairs.sort((a, b) => {
      const ain = seqDiff(latest, a[0]) >= 0 && seqDiff(latest, a[1]) < 0 ? 0 : 1;
      const bin = seqDiff(latest, b[0]) >= 0 && seqDiff(latest, b[1]) < 0 ? 0 : 1;
      return ain - bin;
    });
    const n = Math.min(pairs.length, 4);
    const o = (this.sackScratch ??= Buffer.alloc(36));
    o[0] = 1;
    o[1] = 1;
    o[2] = 5;
    o[3] = 2 + 8 * n;
    for (let i = 0; i < n; i++) {
      o.writeUInt32BE(pairs[i]![0], 4 + 8 * i);
      o.writeUInt32BE(pairs[i]![1], 8 + 8 * i);
    }
    return o.subarray(0, 4 + 8 * n);
  }

  // ---- input --------------------------------------------------------------------------------------

  onSegment(seg: Segment): void {
    const flags = seg.flags;
    if (this.state === 'connecting') return; // retransmitted SYNs while the handler decides
    if (flags & RST) {
      this.onReset(seg);
      return;
    }
    if (this.state === 'time-wait') {
      if (flags & FIN) this.sendAck();
      return;
    }
    if (flags & SYN) {
      if (this.state === 'syn-received' && seg.seq === this.irs) this.sendSynAck();
      else this.sendAck(); // challenge ACK (RFC 5961)
      return;
    }
    if (!(flags & ACK)) return;
    if (this.state === 'syn-received') {
      if (seg.ack !== (this.iss + 1) >>> 0) {
        this.send(RST, seg.ack, 0);
        return;
      }
      this.state = 'established';
      this.sndUna = seg.ack;
      this.sndWnd = seg.window << this.sndScale;
      this.rtoDeadline = 0;
      this.retries = 0;
      this.markDirty();
    }
    this.onAck(seg);
    if (this.state === 'closed') return;
    if (seg.dataLen > 0 || flags & FIN) this.onData(seg);
    else if (seqDiff(seg.seq, this.rcvNxt) < 0) this.sendAck(); // keep-alive or zero-window probe
  }

  private onReset(seg: Segment): void {
    // Accept a RST only in the window (RFC 5961 blind-reset protection, simplified).
    const d = seqDiff(seg.seq, this.rcvNxt);
    if (d < 0 || d > Math.max(this.advertisedWindow(), 1)) return;
    this.host.stats.tcpResetsIn++;
    this.fail(errorWithCode('connection reset by the application', 'ECONNRESET'));
  }

  private onAck(seg: Segment): void {
    const ack = seg.ack;
    if (seqDiff(ack, this.sndMax) > 0) {
      this.sendAck(); // acknowledges data never sent
      return;
    }
    if (this.sackOk && seg.dataOff - seg.off > 20 && this.inFlight() > 0)
      this.sack.addFromOptions(seg.buf, seg.off + 20, seg.dataOff, this.sndUna, this.sndMax);
    const acked = seqDiff(ack, this.sndUna);
    const newWnd = seg.window << this.sndScale;
    if (acked > 0) {
      let dataAcked = acked;
      if (this.finSeq >= 0 && !this.finAcked && seqDiff(ack, this.finSeq) > 0) {
        this.finAcked = true; // the FIN occupies the last sequence number
        dataAcked -= 1;
      }
      this.queue.consume(dataAcked);
      this.sndUna = ack;
      this.sack.ackedTo(ack);
      if (seqDiff(this.sndNxt, this.sndUna) < 0) this.sndNxt = this.sndUna;
      if (this.rttSeq >= 0 && seqDiff(ack, this.rttSeq) >= 0) {
        this.sampleRtt(this.host.now() - this.rttStart);
        this.rttSeq = -1;
      }
      if (this.retries > 0 && this.srtt > 0) {
        // Progress after timeouts: drop the exponential backoff (as Linux does) instead of waiting for a sample.
        const cfg = this.host.config;
        this.rto = Math.min(cfg.maxRtoMs, Math.max(cfg.minRtoMs, this.srtt + 4 * this.rttvar));
      }
      this.retries = 0;
      if (this.inRecovery) {
        if (seqDiff(ack, this.recover) >= 0) {
          this.inRecovery = false;
          this.cwnd = this.ssthresh;
        } else {
          // Partial ACK: the next hole (unless SACK recovery already resent it).
          if (!(seqDiff(this.highRxt, this.sndUna) > 0 && this.retransmitNextHole())) this.retransmitFirst();
          this.cwnd = Math.max(this.cwnd - dataAcked + this.mss, this.mss);
        }
      } else if (this.cwnd < this.ssthresh) {
        // Appropriate byte counting (RFC 3465); super-segments are acknowledged 64 KiB at a time.
        this.cwnd += Math.min(dataAcked, this.host.arena.vnetHdr ? this.maxSegment : 2 * this.mss);
      } else this.cwnd += Math.max(1, Math.floor((this.mss * dataAcked) / this.cwnd));
      this.dupAcks = 0;
      this.sndWnd = newWnd;
      if (this.inFlight() > 0) this.armRto();
      else this.rtoDeadline = 0;
      this.releaseWriter();
      if (this.finAcked) this.onFinAcked();
      this.markDirty();
      return;
    }
    if (acked === 0) {
      if (seg.dataLen === 0 && !(seg.flags & FIN) && this.inFlight() > 0) {
        // Duplicate ACK (the window may move while the receiver queues out-of-order data).
        this.sndWnd = newWnd;
        this.dupAcks++;
        if (this.dupAcks === 3 && !this.inRecovery) {
          this.host.stats.tcpFastRetransmits++;
          this.ssthresh = Math.max(Math.floor(this.inFlight() / 2), 2 * this.mss);
          this.cwnd = this.ssthresh + 3 * this.mss;
          this.recover = this.sndMax;
          this.inRecovery = true;
          this.rttSeq = -1;
          this.highRxt = this.sndUna;
          this.retransmitFirst();
        } else if (this.dupAcks > 3 && this.inRecovery && !this.retransmitNextHole()) {
          // Each duplicate ACK means a segment left the network: resend a known hole, else new data.
          this.cwnd += this.mss;
          this.markDirty();
        }
      } else if (newWnd !== this.sndWnd) {
        this.sndWnd = newWnd;
        this.markDirty();
      }
    }
  }

  private onFinAcked(): void {
    if (this.state === 'fin-wait-1') this.state = 'fin-wait-2';
    else if (this.state === 'closing') this.enterTimeWait();
    else if (this.state === 'last-ack') {
      this.completeFinal();
      this.close();
      return;
    }
    this.completeFinal();
  }

  private onData(seg: Segment): void {
    if (this.finReceived) {
      if (seg.flags & FIN) this.sendAck(); // retransmitted FIN
      return;
    }
    let seq = seg.seq;
    let dataOff = seg.dataOff;
    let dataLen = seg.dataLen;
    let fin = (seg.flags & FIN) !== 0;
    const d = seqDiff(seq, this.rcvNxt);
    if (d < 0) {
      // Old data (retransmission or keep-alive probe): trim what we already have. The FIN sits at
      // seq + dataLen, so it is still new when exactly the data is old.
      const skip = -d;
      if (skip > dataLen || (skip === dataLen && !fin)) {
        this.sendAck();
        return;
      }
      dataOff += skip;
      dataLen -= skip;
      seq = this.rcvNxt;
    }
    const window = seqDiff(this.rcvRightEdge, this.rcvNxt); // what we promised
    if (seqDiff(seq, this.rcvNxt) > 0) {
      // Out of order: keep it (bounded) and send a duplicate ACK so the sender fast-retransmits.
      this.host.stats.tcpOutOfOrder++;
      const off = seqDiff(seq, this.rcvNxt);
      const cfg = this.host.config;
      if (
        off + dataLen <= Math.max(window, cfg.receiveBuffer) &&
        this.oooBytes + dataLen <= cfg.receiveBuffer
      ) {
        this.insertOoo(seq, seg.buf.subarray(dataOff, dataOff + dataLen), fin);
        this.lastOooSeq = seq;
      }
      this.sendAck();
      return;
    }
    const flow = this.flow!;
    if (dataLen > 0) {
      // Bound what the peer can make us hold even if it ignores our window.
      if (flow.readableLength + this.rxBytes > 2 * this.host.config.receiveBuffer) {
        this.sendAck();
        return;
      }
      this.deliver(seg.buf.subarray(dataOff, dataOff + dataLen));
      this.rcvNxt = (this.rcvNxt + dataLen) >>> 0;
    }
    if (this.ooo.length > 0) fin = this.drainOoo() || fin;
    if (fin) this.onFin();
    else if (this.ooo.length > 0) this.sendAck();
    else this.scheduleAck();
  }

  private insertOoo(seq: number, data: Buffer, fin: boolean): void {
    let i = this.ooo.length;
    while (i > 0 && seqDiff(this.ooo[i - 1]!.seq, seq) > 0) i--;
    if (i > 0 && this.ooo[i - 1]!.seq === seq && this.ooo[i - 1]!.data.length >= data.length) return;
    this.ooo.splice(i, 0, { seq, data, fin });
    this.oooBytes += data.length;
  }

  /** Delivers queued segments that are now in order; returns true when a FIN became in order. */
  private drainOoo(): boolean {
    let i = 0;
    for (; i < this.ooo.length; i++) {
      const s = this.ooo[i]!;
      const d = seqDiff(s.seq, this.rcvNxt);
      if (d > 0) break;
      this.oooBytes -= s.data.length;
      const skip = -d;
      if (skip < s.data.length) {
        this.deliver(skip > 0 ? s.data.subarray(skip) : s.data);
        this.rcvNxt = (this.rcvNxt + s.data.length - skip) >>> 0;
      }
      if (s.fin && skip <= s.data.length) {
        this.ooo = [];
        this.oooBytes = 0;
        return true;
      }
    }
    if (i > 0) this.ooo.splice(0, i);
    return false;
  }

  /**
   * In-order payload waits until the end of the input batch and is pushed as one chunk: the flow's
   * consumer (usually a socket) then makes one write per batch instead of one per packet.
   */
  private deliver(data: Buffer): void {
    this.rx.push(data);
    this.rxBytes += data.length;
    if (this.rx.length === 1) this.markDirty();
  }

  /** Hands what arrived to the reader now; what this connection sends goes out on the stack's flush. */
  deliverReceived(): void {
    const rx = this.rx;
    if (rx.length === 0) return;
    const flow = this.flow!;
    // Small segments are joined (one copy, one downstream write); big ones are pushed as they are.
    if (rx.length > 1 && this.rxBytes < rx.length * SMALL_SEGMENT) flow.push(Buffer.concat(rx, this.rxBytes));
    else for (const b of rx) flow.push(b);
    this.rx = [];
    this.rxBytes = 0;
  }

  private onFin(): void {
    this.finReceived = true;
    this.rcvNxt = (this.rcvNxt + 1) >>> 0;
    this.deliverReceived();
    this.flow!.push(null);
    if (this.state === 'established') this.state = 'close-wait';
    else if (this.state === 'fin-wait-1') this.state = this.finAcked ? 'time-wait' : 'closing';
    else if (this.state === 'fin-wait-2') this.enterTimeWait();
    if (this.state === 'time-wait') this.enterTimeWait();
    if (this.state === 'close-wait' && this.ackDelayedUntil === 0) {
      // Our FIN follows once the far side closes: it carries the ACK (a pure ACK if it takes longer).
      this.ackDelayedUntil = this.host.now() + FIN_ACK_DELAY_MS;
      this.host.wantTimer(this);
      return;
    }
    this.sendAck();
  }

  private enterTimeWait(): void {
    this.state = 'time-wait';
    this.rtoDeadline = 0;
    this.deadline = this.host.now() + this.host.config.timeWaitMs;
    this.host.wantTimer(this);
  }

  // ---- output -------------------------------------------------------------------------------------

  private inFlight(): number {
    return seqDiff(this.sndNxt, this.sndUna);
  }

  private advertisedWindow(): number {
    const flow = this.flow;
    const buffered = (flow ? flow.readableLength : 0) + this.rxBytes + this.oooBytes;
    // At most MAX_WINDOW_SEGMENTS full segments in flight: the TUN's queue holds only so many packets
    // (txqueuelen, 500 by default) and packets it drops cost the sender a recovery round.
    let wnd = Math.min(Math.max(0, this.host.config.receiveBuffer - buffered), this.windowCap);
    // Never shrink the right edge we already promised.
    const promised = seqDiff(this.rcvRightEdge, this.rcvNxt);
    if (wnd < promised) wnd = promised;
    return Math.min(wnd, 65535 << this.rcvScale);
  }

  private windowField(): number {
    const wnd = this.advertisedWindow();
    this.rcvRightEdge = (this.rcvNxt + wnd) >>> 0;
    this.windowLow = wnd < this.windowUpdateThreshold();
    if (this.windowLow) this.host.wantTimer(this);
    return Math.min(65535, wnd >>> this.rcvScale);
  }

  private send(flags: number, seq: number, ack: number): void {
    writeSegment(this.host.arena, this, seq, ack, flags, flags & RST ? 0 : this.windowField(), null, 0, 0);
  }

  sendAck(): void {
    this.acked();
    const sack = this.sackOption();
    if (!sack) {
      this.send(ACK, this.sndNxt, this.rcvNxt);
      return;
    }
    writeSegment(this.host.arena, this, this.sndNxt, this.rcvNxt, ACK, this.windowField(), null, 0, 0, sack);
  }

  /** A segment carrying our current ACK went out: nothing is owed. */
  private acked(): void {
    this.ackPending = false;
    this.ackDelayedUntil = 0;
  }

  private scheduleAck(): void {
    this.ackPending = true;
    this.markDirty();
  }

  private markDirty(): void {
    this.host.markDirty(this);
  }

  /** Called by the stack before writing to the device: send what the windows allow, then pending ACKs. */
  flushOutput(): void {
    this.dirty = false;
    if (this.state === 'closed' || this.state === 'connecting' || this.state === 'syn-received') return;
    this.deliverReceived();
    // After our FIN was queued (FIN-WAIT-1, CLOSING, LAST-ACK), a timeout resends from the first
    // unacknowledged byte and clears finSent: the rest of the data and the FIN must still go out.
    if (this.state === 'established' || this.state === 'close-wait' || this.finQueued) this.trySend();
    if (this.ackPending) this.sendAck();
  }

  private unsentOffset(): number {
    return this.inFlight() - (this.finSent ? 1 : 0);
  }

  private trySend(): void {
    const arena = this.host.arena;
    const wnd = Math.min(this.sndWnd, this.cwnd);
    for (;;) {
      if (this.finSent) return;
      const offset = this.unsentOffset();
      const unsent = this.queue.length - offset;
      if (unsent <= 0) break;
      const inflight = this.inFlight();
      const room = wnd - inflight;
      if (room <= 0) {
        if (this.sndWnd === 0 && inflight === 0 && this.rtoDeadline === 0) this.armRto(); // persist probe
        return;
      }
      const len = Math.min(this.maxSegment, unsent, room);
      // Avoid silly small segments while data is in flight (Nagle-style; the peer's ACK will open room).
      if (len < this.mss && len < unsent && inflight > 0) return;
      const push = len === unsent ? PSH : 0;
      writeSegment(
        arena,
        this,
        this.sndNxt,
        this.rcvNxt,
        ACK | push,
        this.windowField(),
        this.queue,
        offset,
        len,
        null,
        this.mss,
      );
      this.acked();
      if (this.rttSeq < 0 && this.sndNxt === this.sndMax) {
        this.rttSeq = (this.sndNxt + len) >>> 0;
        this.rttStart = this.host.now();
      }
      this.sndNxt = (this.sndNxt + len) >>> 0;
      if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
      else this.host.stats.tcpRetransmits++;
      if (this.rtoDeadline === 0) this.armRto();
    }
    if (this.finQueued && !this.finSent && this.queue.length === this.unsentOffset()) {
      writeSegment(arena, this, this.sndNxt, this.rcvNxt, FIN | ACK, this.windowField(), null, 0, 0);
      this.acked();
      this.finSent = true;
      if (this.finSeq < 0) this.finSeq = this.sndNxt;
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
      if (this.state === 'established') this.state = 'fin-wait-1';
      else if (this.state === 'close-wait') this.state = 'last-ack';
      if (this.rtoDeadline === 0) this.armRto();
    }
  }

  /** Resends one segment of the next hole the SACK blocks reveal (above highRxt); false when none. */
  private retransmitNextHole(): boolean {
    if (this.sack.empty) return false;
    const from = seqDiff(this.highRxt, this.sndUna) > 0 ? this.highRxt : this.sndUna;
    const start = this.sack.nextHole(from);
    if (start < 0) return false;
    const offset = seqDiff(start, this.sndUna);
    const hole = seqDiff(this.sack.holeEnd, start);
    const len = Math.min(this.maxSegment, hole, this.queue.length - offset);
    if (len <= 0) return false;
    this.host.stats.tcpRetransmits++;
    this.resendData(start, offset, len);
    this.acked();
    this.highRxt = (start + len) >>> 0;
    return true;
  }

  /** Resends the first unacknowledged segment (fast retransmit, partial ACK, zero-window probe). */
  private retransmitFirst(): void {
    // With GSO a whole lost super-segment is resent at once (it was lost or delivered as one packet).
    const sent = this.unsentOffset();
    const len = Math.min(this.queue.length, Math.max(this.mss, Math.min(this.maxSegment, sent)));
    if (len > 0 && seqDiff((this.sndUna + len) >>> 0, this.highRxt) > 0)
      this.highRxt = (this.sndUna + len) >>> 0;
    this.host.stats.tcpRetransmits++;
    if (len > 0) {
      this.resendData(this.sndUna, 0, len);
    } else if (this.finSent) {
      writeSegment(
        this.host.arena,
        this,
        this.sndUna,
        this.rcvNxt,
        FIN | ACK,
        this.windowField(),
        null,
        0,
        0,
      );
    }
    this.acked();
    this.armRto();
  }

  /** Sends queue[offset, offset + len) again as the segment that starts at `seq`. */
  private resendData(seq: number, offset: number, len: number): void {
    const w = this.windowField();
    writeSegment(this.host.arena, this, seq, this.rcvNxt, ACK, w, this.queue, offset, len, null, this.mss);
  }

  private armRto(): void {
    this.rtoDeadline = this.host.now() + this.rto;
    this.host.wantTimer(this);
  }

  /** Nothing for the stack's timer to do: no deadline, no retransmission timer, no window to reopen. */
  get timerIdle(): boolean {
    return (
      this.state !== 'connecting' &&
      this.rtoDeadline === 0 &&
      this.deadline === 0 &&
      this.ackDelayedUntil === 0 &&
      !this.windowLow
    );
  }

  private sampleRtt(ms: number): void {
    if (this.srtt === 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
    const cfg = this.host.config;
    this.rto = Math.min(cfg.maxRtoMs, Math.max(cfg.minRtoMs, this.srtt + 4 * this.rttvar));
  }

  /** @internal Sequence, window and timer state, for diagnosing a stalled connection in tests. */
  debugState(now: number): Record<string, number | string | boolean> {
    return {
      state: this.state,
      sndUnaToNxt: seqDiff(this.sndNxt, this.sndUna),
      sndUnaToMax: seqDiff(this.sndMax, this.sndUna),
      queued: this.queue.length,
      sndWnd: this.sndWnd,
      cwnd: this.cwnd,
      rto: this.rto,
      rtoInMs: this.rtoDeadline === 0 ? -1 : this.rtoDeadline - now,
      retries: this.retries,
      inRecovery: this.inRecovery,
      finQueued: this.finQueued,
      finSent: this.finSent,
      finAcked: this.finAcked,
      rxBuffered: this.rxBytes,
      flowReadable: this.flow?.readableLength ?? -1,
      advertisedWindow: this.advertisedWindow(),
    };
  }

  /** Timer tick from the stack. */
  onTimer(now: number): void {
    if (this.ackDelayedUntil !== 0 && now >= this.ackDelayedUntil) this.sendAck(); // the tick flushes
    if (this.deadline !== 0 && now >= this.deadline) {
      if (this.state === 'time-wait') {
        this.close();
        return;
      }
      if (this.state === 'connecting') return; // the stack handles connect timeouts
    }
    if (this.rtoDeadline === 0 || now < this.rtoDeadline) return;
    this.host.stats.tcpRtoExpirations++;
    if (++this.retries > this.host.config.maxRetransmits) {
      this.host.stats.tcpResetsOut++;
      this.send(RST | ACK, this.sndNxt, this.rcvNxt);
      this.fail(errorWithCode('the application stopped acknowledging data', 'ETIMEDOUT'));
      return;
    }
    this.rto = Math.min(this.rto * 2, this.host.config.maxRtoMs);
    if (this.state === 'syn-received') {
      this.sendSynAck();
      this.armRto();
      return;
    }
    this.rttSeq = -1;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.sack.clear(); // the receiver may have dropped what it SACKed (RFC 2018 reneging)
    this.ssthresh = Math.max(Math.floor(this.inFlight() / 2), 2 * this.mss);
    this.cwnd = this.mss;
    if (this.inFlight() === 0 && this.queue.length > 0) {
      // Zero-window probe: one byte beyond the window makes the peer report its window.
      writeSegment(
        this.host.arena,
        this,
        this.sndNxt,
        this.rcvNxt,
        ACK,
        this.windowField(),
        this.queue,
        0,
        1,
      );
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
      this.armRto();
      return;
    }
    // Go back N: resend everything from the first unacknowledged byte as the window allows.
    this.sndNxt = this.sndUna;
    if (this.finSent && !this.finAcked) this.finSent = false;
    this.host.stats.tcpRetransmits++;
    this.armRto();
    this.trySend();
    if (this.inFlight() === 0) this.retransmitFirst();
  }

  // ---- flow side ----------------------------------------------------------------------------------

  enqueue(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.state === 'closed' || this.finQueued) {
      cb(errorWithCode('the connection is closed', 'EPIPE'));
      return;
    }
    this.queue.push(chunk);
    if (this.queue.length < this.host.config.sendBuffer) cb();
    else this.pendingWriteCb = cb;
    this.markDirty();
  }

  private releaseWriter(): void {
    const cb = this.pendingWriteCb;
    if (cb && this.queue.length < this.host.config.sendBuffer) {
      this.pendingWriteCb = undefined;
      cb();
    }
  }

  /** The flow ended its writable side: FIN after the queued data. */
  end(cb: (err?: Error | null) => void): void {
    if (this.state === 'closed') {
      cb();
      return;
    }
    this.finQueued = true;
    this.finalCb = cb;
    this.markDirty();
  }

  private completeFinal(): void {
    const cb = this.finalCb;
    this.finalCb = undefined;
    cb?.();
  }

  private windowUpdateThreshold(): number {
    return Math.min(this.host.config.receiveBuffer / 4, 8 * this.mss);
  }

  /**
   * The reader consumed data: reopen the window if it had closed noticeably. Node calls _read only once
   * per push, so the stack's timer also calls this while the window is low (windowLow).
   */
  onReadDemand(): void {
    if (this.state === 'closed' || this.finReceived) return;
    // Nothing received yet: the ACK of the first data carries the full window (as Linux does). A window
    // update now would be one more packet for every new flow, sent when its reader first asks.
    if (this.rcvNxt === (this.irs + 1) >>> 0) return;
    const promised = seqDiff(this.rcvRightEdge, this.rcvNxt);
    const possible = Math.min(
      this.host.config.receiveBuffer - (this.flow?.readableLength ?? 0) - this.rxBytes - this.oooBytes,
      this.windowCap,
    );
    if (possible - promised >= this.windowUpdateThreshold()) this.scheduleAck();
  }

  /** The flow was destroyed by its owner. */
  onFlowDestroyed(): void {
    if (this.state === 'closed') return;
    const clean = this.finReceived && this.finAcked;
    if (!clean && this.state !== 'time-wait') {
      this.host.stats.tcpResetsOut++;
      this.send(RST | ACK, this.sndNxt, this.rcvNxt);
      this.host.requestFlush();
      this.close();
    }
  }

  /** Resets the connection (RST to the application) and fails the flow: used when the stack closes. */
  reset(err: Error): void {
    if (this.state !== 'connecting' && this.state !== 'time-wait' && this.state !== 'closed') {
      this.host.stats.tcpResetsOut++;
      this.send(RST | ACK, this.sndNxt, this.rcvNxt);
    }
    this.fail(err);
  }

  /** Ends the connection with an error on the flow (RST received, retransmissions exhausted). */
  fail(err: Error): void {
    const flow = this.flow;
    this.close();
    if (flow && !flow.destroyed) flow.destroy(err);
  }

  /** Forgets the connection. */
  close(): void {
    if (this.state === 'closed') return;
    // Only a decision still pending listens (an abort with no listener still makes and dispatches an Event).
    const deciding = this.state === 'connecting';
    this.state = 'closed';
    this.rtoDeadline = 0;
    this.deadline = 0;
    this.queue.clear();
    this.rx = [];
    this.rxBytes = 0;
    this.ooo = [];
    this.oooBytes = 0;
    const cb = this.pendingWriteCb;
    this.pendingWriteCb = undefined;
    cb?.(errorWithCode('the connection is closed', 'EPIPE'));
    if (deciding) this.signal.abort(CONNECTION_CLOSED);
    this.host.remove(this);
  }
}

export class TcpFlowImpl extends Duplex {
  readonly id: FlowId;

  constructor(
    private readonly conn: TcpConnection,
    config: TcpConfig,
  ) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: config.receiveBuffer,
      writableHighWaterMark: 64 << 10,
    });
    this.id = conn.id;
  }

  override _read(): void {
    this.conn.onReadDemand();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.conn.enqueue(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.onFlowDestroyed();
    cb(err);
  }
}

export function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export type { TcpFlow };
