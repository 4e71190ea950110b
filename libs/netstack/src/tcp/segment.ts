// TCP header fields, option parsing and the one function that builds every outgoing TCP packet.
import { finish, fold, onesSum, pseudoSum4, pseudoSum6 } from '../ip/checksum.js';
import { PROTO_TCP, ipHeaderLength, writeIpHeader, type Family } from '../ip/headers.js';
import type { TxArena } from '../ip/tx-arena.js';
import { VNET_GSO_TCPV4, VNET_GSO_TCPV6, writeTcpVnetHdr } from '../ip/vnet-hdr.js';
import type { ByteQueue } from './byte-queue.js';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** One parsed incoming segment; a single instance is reused for every packet. */
export interface Segment {
  buf: Buffer;
  /** Offset of the TCP header. */
  off: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  dataOff: number;
  dataLen: number;
}

export interface SynOptions {
  mss: number;
  /** -1 when the peer did not offer window scaling. */
  windowScale: number;
  sackPermitted: boolean;
}

/**
 * Calls `visit(kind, at, len)` for each option in TCP options buf[off, end), `at` being the option's first
 * byte; NOP and end-of-list are not visited, and a malformed option ends the walk.
 */
export function forEachTcpOption(
  buf: Buffer,
  off: number,
  end: number,
  visit: (kind: number, at: number, len: number) => void,
): void {
  let i = off;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === 0) return;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return;
    visit(kind, i, len);
    i += len;
  }
}

/** Reads MSS and window scale from a SYN's options (malformed options end the parse). */
export function parseSynOptions(buf: Buffer, off: number, end: number, out: SynOptions): void {
  out.mss = 536;
  out.windowScale = -1;
  out.sackPermitted = false;
  forEachTcpOption(buf, off, end, (kind, i, len) => {
    if (kind === 2 && len === 4) out.mss = buf.readUInt16BE(i + 2) || 536;
    else if (kind === 3 && len === 3) out.windowScale = Math.min(buf[i + 2]!, 14);
    else if (kind === 4 && len === 2) out.sackPermitted = true;
  });
}

export interface TcpEndpoints {
  family: Family;
  local: Uint8Array;
  remote: Uint8Array;
  localPort: number;
  remotePort: number;
}

/** SYN-ACK options: MSS, window scale (when wscale >= 0), SACK permitted (when sack). 12 bytes. */
export function synAckOptions(mss: number, wscale: number, sack: boolean): Buffer {
  const o = Buffer.from([2, 4, mss >>> 8, mss & 0xff, 1, 3, 3, Math.max(wscale, 0), 1, 1, 4, 2]);
  if (wscale < 0) o.fill(1, 4, 8); // NOPs instead of window scale
  if (!sack) o.fill(1, 8, 12);
  return o;
}

/**
 * Builds one segment from `ep.local` to `ep.remote` with `options` (a multiple of 4 bytes) after the
 * header. Payload bytes are copied from `data` at `dataOffset`. On a vnetHdr device the kernel computes
 * the checksum, and a payload longer than `gsoSize` goes out as one super-segment of gsoSize segments.
 */
export function writeSegment(
  arena: TxArena,
  ep: TcpEndpoints,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  data: ByteQueue | null,
  dataOffset: number,
  dataLen: number,
  options: Uint8Array | null = null,
  gsoSize = 0,
): void {
  const ipLen = ipHeaderLength(ep.family);
  const optLen = options ? options.length : 0;
  const tcpLen = 20 + optLen + dataLen;
  const buf = arena.buf;
  const off = arena.reserve(ipLen + tcpLen);
  writeIpHeader(buf, off, ep.family, ep.local, ep.remote, PROTO_TCP, tcpLen);
  const t = off + ipLen;
  buf.writeUInt16BE(ep.localPort, t);
  buf.writeUInt16BE(ep.remotePort, t + 2);
  buf.writeUInt32BE(seq >>> 0, t + 4);
  buf.writeUInt32BE(ack >>> 0, t + 8);
  buf[t + 12] = ((20 + optLen) >>> 2) << 4;
  buf[t + 13] = flags;
  buf.writeUInt16BE(window, t + 14);
  buf.writeUInt32BE(0, t + 16); // checksum + urgent pointer
  if (options) buf.set(options, t + 20);
  if (dataLen > 0 && data) data.copyOut(dataOffset, dataLen, buf, t + 20 + optLen);
  const pseudo =
    ep.family === 4
      ? pseudoSum4(buf, off + 12, off + 16, PROTO_TCP, tcpLen)
      : pseudoSum6(buf, off + 8, off + 24, PROTO_TCP, tcpLen);
  if (arena.vnetHdr) {
    buf.writeUInt16BE(fold(pseudo), t + 16); // CHECKSUM_PARTIAL: the kernel adds the segment's sum
    const gso = dataLen > gsoSize && gsoSize > 0 ? gsoSize : 0;
    const type = ep.family === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
    writeTcpVnetHdr(buf, off - arena.headroom, ipLen, 20 + optLen, type, gso);
  } else buf.writeUInt16BE(finish(pseudo + onesSum(buf, t, tcpLen)), t + 16);
  arena.commit(off, ipLen + tcpLen);
}

/** Signed distance between sequence numbers (a - b) in 32-bit space. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
