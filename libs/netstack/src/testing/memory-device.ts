// In-memory PacketDevice for unit tests: packets written by the stack are collected as copies.
import type { PacketBatch, PacketDevice } from '../device.js';

export class MemoryDevice implements PacketDevice {
  readonly maxPacket = 65535;
  readonly written: Buffer[] = [];
  /** With vnetHdr: the virtio_net_hdr written before each packet in `written` (same index). */
  readonly writtenHdr: Buffer[] = [];
  readonly vnetHdr: boolean;
  readonly receiveOffload: boolean;
  closed = false;
  private onBatch: ((batch: PacketBatch) => void) | undefined;

  /** `vnetHdr`: behave like a TUN opened with IFF_VNET_HDR and TSO offloads. */
  constructor(options: { vnetHdr?: boolean } = {}) {
    this.vnetHdr = options.vnetHdr ?? false;
    this.receiveOffload = this.vnetHdr;
  }

  start(onBatch: (batch: PacketBatch) => void): void {
    this.onBatch = onBatch;
  }

  /** Delivers packets to the stack as one batch (8-byte aligned, like the TUN addon). */
  inject(...packets: Buffer[]): void {
    this.injectWithFlags(0, ...packets);
  }

  /** Like inject; on a vnetHdr device each packet gets a virtio_net_hdr with these flags (1 = NEEDS_CSUM). */
  injectWithFlags(vnetFlags: number, ...packets: Buffer[]): void {
    const lead = this.vnetHdr ? 16 : 0; // header at +6, packet 8-aligned at +16
    let size = 0;
    for (const p of packets) size += lead + ((p.length + 7) & ~7);
    const buffer = Buffer.alloc(Math.max(size, 8));
    const meta = new Int32Array(packets.length * 2);
    let off = 0;
    packets.forEach((p, i) => {
      p.copy(buffer, off + lead);
      if (lead > 0) buffer[off + 6] = vnetFlags;
      meta[2 * i] = off + (lead > 0 ? 6 : 0);
      meta[2 * i + 1] = p.length + (lead > 0 ? 10 : 0);
      off += lead + ((p.length + 7) & ~7);
    });
    this.onBatch?.({ buffer, meta, count: packets.length });
  }

  writeBatch(buffer: Uint8Array, meta: Int32Array, count: number): number {
    const hl = this.vnetHdr ? 10 : 0;
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i]!;
      const end = off + meta[2 * i + 1]!;
      if (hl > 0) this.writtenHdr.push(Buffer.from(buffer.subarray(off, off + hl)));
      this.written.push(Buffer.from(buffer.subarray(off + hl, end)));
    }
    return count;
  }

  take(): Buffer[] {
    this.writtenHdr.splice(0);
    return this.written.splice(0);
  }

  /** Packets and their virtio_net_hdrs written since the last take. */
  takeWithHdr(): Array<{ packet: Buffer; hdr: Buffer }> {
    const hdrs = this.writtenHdr.splice(0);
    return this.written.splice(0).map((packet, i) => ({ packet, hdr: hdrs[i]! }));
  }

  close(): void {
    this.closed = true;
  }
}

/** Builds an IPv4 TCP segment with valid checksums (for tests and fuzz seeds). */
export function tcpPacket4(o: {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: Buffer;
  data?: Buffer;
}): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const data = o.data ?? Buffer.alloc(0);
  const tcpLen = 20 + opt.length + data.length;
  const b = Buffer.alloc(20 + tcpLen);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(0x4000, 6);
  b[8] = 64;
  b[9] = 6;
  Buffer.from(o.src.split('.').map(Number)).copy(b, 12);
  Buffer.from(o.dst.split('.').map(Number)).copy(b, 16);
  b.writeUInt16BE(checksum(b, 0, 20), 10);
  b.writeUInt16BE(o.srcPort, 20);
  b.writeUInt16BE(o.dstPort, 22);
  b.writeUInt32BE(o.seq >>> 0, 24);
  b.writeUInt32BE((o.ack ?? 0) >>> 0, 28);
  b[32] = ((20 + opt.length) / 4) << 4;
  b[33] = o.flags;
  b.writeUInt16BE(o.window ?? 65535, 34);
  opt.copy(b, 40);
  data.copy(b, 40 + opt.length);
  const pseudo = Buffer.alloc(12 + tcpLen);
  b.copy(pseudo, 0, 12, 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcpLen, 10);
  b.copy(pseudo, 12, 20);
  b.writeUInt16BE(checksum(pseudo, 0, pseudo.length), 36);
  return b;
}

/** Plain byte-by-byte RFC 1071 checksum: the reference the fast one is tested against. */
export function checksum(buf: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (buf[off + i]! << 8) | (i + 1 < len ? buf[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Builds an IPv4 UDP datagram with valid checksums. */
export function udpPacket4(o: {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  data: Buffer;
}): Buffer {
  const ulen = 8 + o.data.length;
  const b = Buffer.alloc(20 + ulen);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 17;
  Buffer.from(o.src.split('.').map(Number)).copy(b, 12);
  Buffer.from(o.dst.split('.').map(Number)).copy(b, 16);
  b.writeUInt16BE(checksum(b, 0, 20), 10);
  b.writeUInt16BE(o.srcPort, 20);
  b.writeUInt16BE(o.dstPort, 22);
  b.writeUInt16BE(ulen, 24);
  o.data.copy(b, 28);
  const pseudo = Buffer.alloc(12 + ulen);
  b.copy(pseudo, 0, 12, 20);
  pseudo[9] = 17;
  pseudo.writeUInt16BE(ulen, 10);
  b.copy(pseudo, 12, 20);
  b.writeUInt16BE(checksum(pseudo, 0, pseudo.length) || 0xffff, 26);
  return b;
}
