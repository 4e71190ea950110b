// The user-space IP stack: reads packet batches from a device, terminates TCP and UDP flows and hands
// them to a FlowHandler. ICMP is never answered locally (no fake echo replies for routed addresses).
import type { PacketBatch, PacketDevice } from './device.js';
import type { AttachTcp, AttachUdp, FlowHandler, FlowId } from './flow-handler.js';
import { finish, onesSum, pseudoSum4, pseudoSum6 } from './ip/checksum.js';
import {
  PROTO_ICMP,
  PROTO_ICMP6,
  PROTO_TCP,
  PROTO_UDP,
  formatAddress,
  ipHeaderLength,
  sameAddress,
  writeIpHeader,
  type Family,
} from './ip/headers.js';
import { TxArena } from './ip/tx-arena.js';
import { vnetChecksumTrusted } from './ip/vnet-hdr.js';
import { newStats, type NetstackStats } from './stats.js';
import {
  ACK,
  RST,
  SYN,
  FIN,
  parseSynOptions,
  writeSegment,
  type Segment,
  type SynOptions,
} from './tcp/segment.js';
import { CONNECTION_CLOSED, TcpConnection, type TcpConfig, type TcpHost } from './tcp/tcp-connection.js';
import { UdpFlowImpl, type UdpHost } from './udp/udp-flow.js';

export interface NetstackOptions {
  /** MTU of the link the device sits on (sets our MSS and the largest datagram we send). Default 65520. */
  mtu?: number;
  /** How long the flow handler may take to accept a SYN before the stack resets it. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Per-connection receive buffer (bytes the flow has not read yet). Default 4 MiB. */
  receiveBuffer?: number;
  /** Per-connection send buffer (unacknowledged + unsent bytes). Default 4 MiB. */
  sendBuffer?: number;
  /** TIME_WAIT duration; short because the stack owns every 4-tuple it serves. Default 1000 ms. */
  timeWaitMs?: number;
  minRtoMs?: number;
  maxRtoMs?: number;
  /** Retransmissions of one segment before the connection is reset. Default 10. */
  maxRetransmits?: number;
  /** UDP flows end after this long without traffic. Default 60 s. */
  udpIdleTimeoutMs?: number;
  /** Most concurrent TCP connections (and, separately, UDP flows); more SYNs are reset. Default 65536. */
  maxFlows?: number;
  /** Test hook: drop this fraction of packets in each direction (simulated lossy link). */
  simulatedLoss?: { inbound: number; outbound: number; random?: () => number };
}

/** Timer resolution of TCP (retransmission, connect and TIME-WAIT deadlines, window reopening). */
const TICK_MS = 10;
/** How often UDP flows are checked for idleness. */
const UDP_IDLE_CHECK_MS = 1000;
const MAX_PENDING_UDP = 64;

export class Netstack implements TcpHost, UdpHost {
  readonly stats: NetstackStats = newStats();
  readonly config: TcpConfig;
  readonly arena: TxArena;
  private readonly udpIdleMs: number;
  private readonly maxFlows: number;
  private readonly tcp = new Map<number, TcpConnection[]>();
  private readonly udp = new Map<number, UdpFlowImpl[]>();
  private readonly connections = new Set<TcpConnection>();
  private readonly udpFlows = new Set<UdpFlowImpl>();
  private dirty: TcpConnection[] = [];
  private flushScheduled = false;
  /**
   * Connections with a timer running: only these are ticked, and the tick runs only while there are any,
   * so idle connections cost no CPU (10,000 idle ones walked 100 times a second took 13% of a core) and
   * an idle daemon does not wake up.
   */
  private readonly timed = new Set<TcpConnection>();
  private tcpTimer: NodeJS.Timeout | undefined;
  private udpTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private readonly seg: Segment = {
    buf: Buffer.alloc(0),
    off: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    dataOff: 0,
    dataLen: 0,
  };
  private readonly syn: SynOptions = { mss: 0, windowScale: -1, sackPermitted: false };
  private readonly lossIn: number;
  private readonly random: () => number;

  constructor(
    private readonly device: PacketDevice,
    private readonly handler: FlowHandler,
    options: NetstackOptions = {},
  ) {
    const mtu = options.mtu ?? 65520;
    if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535)
      throw new RangeError(`mtu ${mtu}: use 1280..65535`);
    this.config = {
      mtu,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      receiveBuffer: options.receiveBuffer ?? 4 << 20,
      sendBuffer: options.sendBuffer ?? 4 << 20,
      timeWaitMs: options.timeWaitMs ?? 1000,
      minRtoMs: options.minRtoMs ?? 200,
      maxRtoMs: options.maxRtoMs ?? 10_000,
      maxRetransmits: options.maxRetransmits ?? 10,
      receiveOffload: device.receiveOffload === true,
    };
    this.udpIdleMs = options.udpIdleTimeoutMs ?? 60_000;
    this.maxFlows = options.maxFlows ?? 65536;
    this.arena = new TxArena(device, 8 << 20);
    this.random = options.simulatedLoss?.random ?? Math.random;
    this.lossIn = options.simulatedLoss?.inbound ?? 0;
    this.arena.dropRate = options.simulatedLoss?.outbound ?? 0;
    this.arena.random = this.random;
  }

  /** Starts reading packets from the device. */
  start(): void {
    this.device.start(
      (batch) => this.inputBatch(batch),
      () => {
        /* read errors are transient for a TUN; the poller keeps going */
      },
    );
    this.started = true;
    if (this.timed.size > 0) this.startTcpTimer();
    if (this.udpFlows.size > 0) this.startUdpTimer();
  }

  /** A snapshot of the counters. */
  getStats(): NetstackStats {
    this.stats.packetsOut = this.arena.packets;
    this.stats.bytesOut = this.arena.bytes;
    this.stats.writeDrops = this.arena.dropped;
    return { ...this.stats };
  }

  /** @internal Every TCP connection's state (TcpConnection.debugState), for diagnosing stalls in tests. */
  debugConnections(): Record<string, number | string | boolean>[] {
    const now = this.now();
    return [...this.connections].map((c) => c.debugState(now));
  }

  /** @internal Which timers run and how many connections the TCP one ticks (tests: idle costs nothing). */
  debugTimers(): { tcp: boolean; udp: boolean; ticked: number } {
    return { tcp: this.tcpTimer !== undefined, udp: this.udpTimer !== undefined, ticked: this.timed.size };
  }

  /** Resets every connection, ends every UDP flow, stops reading and closes the device. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tcpTimer);
    clearInterval(this.udpTimer);
    for (const conn of [...this.connections]) {
      conn.reset(Object.assign(new Error('the network stack was closed'), { code: 'ECONNABORTED' }));
    }
    for (const flow of [...this.udpFlows]) flow.destroy();
    this.arena.flush();
    this.device.close();
  }

  // ---- input --------------------------------------------------------------------------------------

  inputBatch(batch: PacketBatch): void {
    const { buffer, meta, count } = batch;
    const hdr = this.arena.headroom; // input() checks the packet's bounds
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i]!;
      const len = meta[2 * i + 1]!;
      if (len < hdr) this.stats.dropMalformed++;
      else this.input(buffer, off + hdr, len - hdr, hdr > 0 && vnetChecksumTrusted(buffer, off));
    }
    // What arrived goes to its readers now; what we send back (mostly ACKs) at the end of this turn of
    // the event loop, after what those readers wrote on (a tunnel's HTTP/2 write is a native immediate,
    // which runs first): a pure ACK written first delayed every request on its way out (issue 15).
    for (const conn of this.dirty) conn.deliverReceived();
    if (this.dirty.length > 0 || this.arena.pending > 0) this.scheduleFlush();
  }

  /**
   * Processes one IP packet at buf[off, off+len). Never throws on bad input: it counts and drops.
   * `l4Trusted`: the kernel says the TCP/UDP checksum is partial or already verified (virtio_net_hdr).
   */
  input(buf: Buffer, off: number, len: number, l4Trusted = false): void {
    const stats = this.stats;
    stats.packetsIn++;
    stats.bytesIn += len;
    if (this.lossIn > 0 && this.random() < this.lossIn) {
      stats.dropSimulated++;
      return;
    }
    if (len < 20 || off < 0 || off + len > buf.length) {
      stats.dropMalformed++;
      return;
    }
    const version = buf[off]! >>> 4;
    let family: Family;
    let proto: number;
    let l4: number;
    let end: number;
    if (version === 4) {
      family = 4;
      const ihl = (buf[off]! & 0x0f) << 2;
      const total = buf.readUInt16BE(off + 2);
      if (ihl < 20 || total < ihl || total > len) {
        stats.dropMalformed++;
        return;
      }
      if (onesSum(buf, off, ihl) !== 0xffff) {
        stats.dropBadChecksum++;
        return;
      }
      if ((buf.readUInt16BE(off + 6) & 0x3fff) !== 0) {
        stats.dropFragment++; // the kernel does not fragment TCP here (DF + MSS); fragmented UDP is unsupported
        return;
      }
      proto = buf[off + 9]!;
      l4 = off + ihl;
      end = off + total;
    } else if (version === 6) {
      family = 6;
      if (len < 40) {
        stats.dropMalformed++;
        return;
      }
      end = off + 40 + buf.readUInt16BE(off + 4);
      if (end > off + len) {
        stats.dropMalformed++;
        return;
      }
      proto = buf[off + 6]!;
      l4 = off + 40;
      // Skip hop-by-hop, routing and destination options headers.
      while (proto === 0 || proto === 43 || proto === 60) {
        if (l4 + 8 > end) {
          stats.dropMalformed++;
          return;
        }
        const next = buf[l4]!;
        l4 += (buf[l4 + 1]! + 1) << 3;
        proto = next;
      }
      if (l4 > end) {
        stats.dropMalformed++;
        return;
      }
      if (proto === 44) {
        stats.dropFragment++;
        return;
      }
    } else {
      stats.dropMalformed++;
      return;
    }
    if (proto === PROTO_TCP) this.inputTcp(buf, family, off, l4, end - l4, l4Trusted);
    else if (proto === PROTO_UDP) this.inputUdp(buf, family, off, l4, end - l4, l4Trusted);
    else if (proto === PROTO_ICMP || proto === PROTO_ICMP6) stats.dropIcmp++;
    else stats.dropUnsupported++;
  }

  private l4Checksum(
    buf: Buffer,
    family: Family,
    ip: number,
    proto: number,
    l4: number,
    len: number,
  ): number {
    const pseudo =
      family === 4
        ? pseudoSum4(buf, ip + 12, ip + 16, proto, len)
        : pseudoSum6(buf, ip + 8, ip + 24, proto, len);
    return finish(pseudo + onesSum(buf, l4, len));
  }

  private inputTcp(buf: Buffer, family: Family, ip: number, t: number, len: number, trusted: boolean): void {
    const stats = this.stats;
    const hl = len >= 20 ? (buf[t + 12]! >>> 4) << 2 : 0;
    if (hl < 20 || hl > len) {
      stats.dropMalformed++;
      return;
    }
    if (!trusted && this.l4Checksum(buf, family, ip, PROTO_TCP, t, len) !== 0) {
      stats.dropBadChecksum++;
      return;
    }
    const seg = this.seg;
    seg.buf = buf;
    seg.off = t;
    seg.seq = buf.readUInt32BE(t + 4);
    seg.ack = buf.readUInt32BE(t + 8);
    seg.flags = buf[t + 13]! & 0x3f;
    seg.window = buf.readUInt16BE(t + 14);
    seg.dataOff = t + hl;
    seg.dataLen = len - hl;
    const srcPort = buf.readUInt16BE(t);
    const dstPort = buf.readUInt16BE(t + 2);
    const key = srcPort * 65536 + dstPort;
    const srcOff = ip + (family === 4 ? 12 : 8);
    const dstOff = ip + (family === 4 ? 16 : 24);
    const list = this.tcp.get(key);
    if (list) {
      for (const conn of list) {
        if (
          conn.family === family &&
          sameAddress(buf, srcOff, conn.remote) &&
          sameAddress(buf, dstOff, conn.local)
        ) {
          conn.onSegment(seg);
          return;
        }
      }
    }
    const flags = seg.flags;
    if (flags & RST) {
      stats.dropNoConnection++;
      return;
    }
    if (
      (flags & (SYN | ACK | FIN)) === SYN &&
      dstPort !== 0 &&
      srcPort !== 0 &&
      this.connections.size < this.maxFlows
    ) {
      this.newConnection(buf, family, srcOff, dstOff, srcPort, dstPort, key, t, hl);
      return;
    }
    stats.dropNoConnection++;
    this.resetUnknown(buf, family, srcOff, dstOff, srcPort, dstPort);
  }

  /** RST for a segment that belongs to no connection (RFC 793 "reset generation"). */
  private resetUnknown(
    buf: Buffer,
    family: Family,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
  ): void {
    const seg = this.seg;
    const alen = family === 4 ? 4 : 16;
    const ep = {
      family,
      local: buf.subarray(dstOff, dstOff + alen),
      remote: buf.subarray(srcOff, srcOff + alen),
      localPort: dstPort,
      remotePort: srcPort,
    };
    this.stats.tcpResetsOut++;
    if (seg.flags & ACK) writeSegment(this.arena, ep, seg.ack, 0, RST, 0, null, 0, 0);
    else {
      const ack = seg.seq + seg.dataLen + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
      writeSegment(this.arena, ep, 0, ack >>> 0, RST | ACK, 0, null, 0, 0);
    }
  }

  private newConnection(
    buf: Buffer,
    family: Family,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
    key: number,
    t: number,
    hl: number,
  ): void {
    const alen = family === 4 ? 4 : 16;
    const local = Buffer.from(buf.subarray(dstOff, dstOff + alen));
    const remote = Buffer.from(buf.subarray(srcOff, srcOff + alen));
    parseSynOptions(buf, t + 20, t + hl, this.syn);
    const id: FlowId = {
      family,
      protocol: 'tcp',
      src: formatAddress(remote, 0, family),
      srcPort,
      dst: formatAddress(local, 0, family),
      dstPort,
    };
    const conn = new TcpConnection(
      this,
      id,
      family,
      local,
      remote,
      dstPort,
      srcPort,
      key,
      this.seg,
      this.syn.mss,
      this.syn.windowScale,
      this.syn.sackPermitted,
    );
    const list = this.tcp.get(key);
    if (list) list.push(conn);
    else this.tcp.set(key, [conn]);
    this.connections.add(conn);
    this.stats.tcpActive++;
    let decision: Promise<AttachTcp>;
    try {
      decision = this.handler.onTcpConnect(id, conn.signal);
    } catch (err) {
      decision = Promise.reject(err);
    }
    decision.then(
      (attach) => {
        if (conn.state !== 'connecting') return; // timed out or stack closed meanwhile
        this.stats.tcpAccepted++;
        const flow = conn.accept();
        this.scheduleFlush();
        try {
          attach(flow);
        } catch (err) {
          flow.destroy(err as Error);
        }
      },
      () => {
        if (conn.state !== 'connecting') return;
        this.stats.tcpRejected++;
        conn.refuse();
        this.scheduleFlush();
      },
    );
  }

  private inputUdp(buf: Buffer, family: Family, ip: number, u: number, len: number, trusted: boolean): void {
    const stats = this.stats;
    if (len < 8) {
      stats.dropMalformed++;
      return;
    }
    const ulen = buf.readUInt16BE(u + 4);
    if (ulen < 8 || ulen > len) {
      stats.dropMalformed++;
      return;
    }
    const sum = buf.readUInt16BE(u + 6);
    if (
      !trusted &&
      (sum !== 0 || family === 6) &&
      this.l4Checksum(buf, family, ip, PROTO_UDP, u, ulen) !== 0
    ) {
      stats.dropBadChecksum++;
      return;
    }
    const srcPort = buf.readUInt16BE(u);
    const dstPort = buf.readUInt16BE(u + 2);
    const key = srcPort * 65536 + dstPort;
    const srcOff = ip + (family === 4 ? 12 : 8);
    const dstOff = ip + (family === 4 ? 16 : 24);
    const dataOff = u + 8;
    const dataLen = ulen - 8;
    const list = this.udp.get(key);
    let flow: UdpFlowImpl | undefined;
    if (list) {
      for (const f of list) {
        if (f.family === family && sameAddress(buf, srcOff, f.remote) && sameAddress(buf, dstOff, f.local)) {
          flow = f;
          break;
        }
      }
    }
    stats.udpDatagramsIn++;
    if (flow) {
      flow.lastActive = this.now();
      if (flow.state === 'open') {
        if (flow.readableLength >= flow.readableHighWaterMark) stats.udpDrops++;
        else flow.push(buf.subarray(dataOff, dataOff + dataLen));
      } else if (flow.state === 'pending') {
        if (flow.pending.length >= MAX_PENDING_UDP) stats.udpDrops++;
        else flow.pending.push(copyDatagram(buf, ip, dataOff, dataLen, u + ulen));
      }
      return;
    }
    if (!this.handler.onUdpFlow || dstPort === 0 || this.udpFlows.size >= this.maxFlows) {
      stats.udpRejected++;
      this.sendPortUnreachable(buf, family, ip, u + ulen - ip);
      return;
    }
    const alen = family === 4 ? 4 : 16;
    const local = Buffer.from(buf.subarray(dstOff, dstOff + alen));
    const remote = Buffer.from(buf.subarray(srcOff, srcOff + alen));
    const id: FlowId = {
      family,
      protocol: 'udp',
      src: formatAddress(remote, 0, family),
      srcPort,
      dst: formatAddress(local, 0, family),
      dstPort,
    };
    const created = new UdpFlowImpl(this, id, family, local, remote, dstPort, srcPort, key);
    created.lastActive = this.now();
    created.pending.push(copyDatagram(buf, ip, dataOff, dataLen, u + ulen));
    if (list) list.push(created);
    else this.udp.set(key, [created]);
    this.udpFlows.add(created);
    this.startUdpTimer();
    stats.udpActive++;
    let decision: Promise<AttachUdp>;
    try {
      decision = this.handler.onUdpFlow(id, created.signal);
    } catch (err) {
      decision = Promise.reject(err);
    }
    decision.then(
      (attach) => {
        if (created.state !== 'pending') return;
        stats.udpAccepted++;
        created.state = 'open';
        for (const d of created.pending) created.push(d.packet.subarray(d.dataOff, d.dataOff + d.dataLen));
        created.pending = [];
        try {
          attach(created);
        } catch (err) {
          created.destroy(err as Error);
        }
      },
      () => {
        if (created.state !== 'pending') return;
        stats.udpRejected++;
        for (const d of created.pending) this.sendPortUnreachable(d.packet, family, 0, d.packet.length);
        created.forget();
        this.scheduleFlush();
      },
    );
  }

  /** ICMP(v6) port unreachable quoting the offending packet (as much as the minimum MTU allows). */
  private sendPortUnreachable(buf: Buffer, family: Family, ip: number, ipLen: number): void {
    const quote = Math.min(ipLen, family === 4 ? 548 : 1232);
    const hl = ipHeaderLength(family);
    const icmpLen = 8 + quote;
    const a = this.arena;
    const out = a.buf;
    const off = a.reserve(hl + icmpLen);
    const srcOff = ip + (family === 4 ? 12 : 8);
    const dstOff = ip + (family === 4 ? 16 : 24);
    const alen = family === 4 ? 4 : 16;
    const proto = family === 4 ? PROTO_ICMP : PROTO_ICMP6;
    writeIpHeader(
      out,
      off,
      family,
      buf.subarray(dstOff, dstOff + alen),
      buf.subarray(srcOff, srcOff + alen),
      proto,
      icmpLen,
    );
    const c = off + hl;
    out[c] = family === 4 ? 3 : 1; // destination unreachable
    out[c + 1] = family === 4 ? 3 : 4; // port unreachable
    out.writeUInt16BE(0, c + 2);
    out.writeUInt32BE(0, c + 4);
    buf.copy(out, c + 8, ip, ip + quote);
    const pseudo = family === 6 ? pseudoSum6(out, off + 8, off + 24, PROTO_ICMP6, icmpLen) : 0;
    out.writeUInt16BE(finish(pseudo + onesSum(out, c, icmpLen)), c + 2);
    a.commit(off, hl + icmpLen);
  }

  // ---- UdpHost ------------------------------------------------------------------------------------

  sendDatagram(flow: UdpFlowImpl, data: Buffer): void {
    const hl = ipHeaderLength(flow.family);
    const ulen = 8 + data.length;
    if (hl + ulen > this.config.mtu) {
      this.stats.udpDrops++; // would need IP fragmentation
      return;
    }
    const a = this.arena;
    const out = a.buf;
    const off = a.reserve(hl + ulen);
    writeIpHeader(out, off, flow.family, flow.local, flow.remote, PROTO_UDP, ulen);
    const u = off + hl;
    out.writeUInt16BE(flow.localPort, u);
    out.writeUInt16BE(flow.remotePort, u + 2);
    out.writeUInt16BE(ulen, u + 4);
    out.writeUInt16BE(0, u + 6);
    data.copy(out, u + 8);
    let sum = this.l4Checksum(out, flow.family, off, PROTO_UDP, u, ulen);
    if (sum === 0) sum = 0xffff;
    out.writeUInt16BE(sum, u + 6);
    a.commit(off, hl + ulen);
    flow.lastActive = this.now();
    this.stats.udpDatagramsOut++;
    this.scheduleFlush();
  }

  removeUdp(flow: UdpFlowImpl): void {
    if (!this.udpFlows.delete(flow)) return;
    this.stats.udpActive--;
    const list = this.udp.get(flow.key);
    if (!list) return;
    const i = list.indexOf(flow);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.udp.delete(flow.key);
  }

  // ---- TcpHost ------------------------------------------------------------------------------------

  now(): number {
    return performance.now();
  }

  markDirty(conn: TcpConnection): void {
    if (conn.dirty) return;
    conn.dirty = true;
    this.dirty.push(conn);
    this.scheduleFlush();
  }

  wantTimer(conn: TcpConnection): void {
    if (conn.ticked) return; // the common case, once per ACK or segment: no set lookup
    conn.ticked = true;
    this.timed.add(conn);
    this.startTcpTimer();
  }

  remove(conn: TcpConnection): void {
    conn.ticked = false;
    this.timed.delete(conn);
    if (!this.connections.delete(conn)) return;
    this.stats.tcpActive--;
    const list = this.tcp.get(conn.key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.tcp.delete(conn.key);
  }

  // ---- output and timers --------------------------------------------------------------------------

  requestFlush(): void {
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Lets dirty connections send, then writes everything built so far to the device. */
  flush(): void {
    while (this.dirty.length > 0) {
      const list = this.dirty;
      this.dirty = [];
      for (const conn of list) conn.flushOutput();
    }
    this.arena.flush();
  }

  private startTcpTimer(): void {
    if (this.tcpTimer !== undefined || !this.started || this.closed) return;
    this.tcpTimer = setInterval(() => this.tick(), TICK_MS);
    this.tcpTimer.unref();
  }

  private startUdpTimer(): void {
    if (this.udpTimer !== undefined || !this.started || this.closed) return;
    this.udpTimer = setInterval(() => this.closeIdleUdp(), UDP_IDLE_CHECK_MS);
    this.udpTimer.unref();
  }

  private tick(): void {
    const now = this.now();
    for (const conn of this.timed) {
      if (conn.state === 'connecting') {
        if (now >= conn.deadline) {
          this.stats.tcpConnectTimeouts++;
          conn.signal.abort(CONNECTION_CLOSED);
          conn.refuse();
        }
        continue;
      }
      if (conn.rtoDeadline !== 0 || conn.deadline !== 0 || conn.ackDelayedUntil !== 0) conn.onTimer(now);
      if (conn.windowLow) conn.onReadDemand();
      if (conn.timerIdle) {
        conn.ticked = false;
        this.timed.delete(conn);
      }
    }
    if (this.timed.size === 0) {
      clearInterval(this.tcpTimer);
      this.tcpTimer = undefined;
    }
    this.flush();
  }

  private closeIdleUdp(): void {
    const now = this.now();
    for (const flow of this.udpFlows) {
      if (flow.state === 'open' && now - flow.lastActive >= this.udpIdleMs) {
        this.stats.udpIdleClosed++;
        flow.push(null);
        flow.forget();
        flow.end();
      }
    }
    if (this.udpFlows.size === 0) {
      clearInterval(this.udpTimer);
      this.udpTimer = undefined;
    }
    this.flush();
  }
}

function copyDatagram(buf: Buffer, ip: number, dataOff: number, dataLen: number, end: number) {
  const packet = Buffer.from(buf.subarray(ip, end));
  return { packet, dataOff: dataOff - ip, dataLen };
}
