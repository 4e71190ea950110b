// Outgoing packets are built in place in one reusable buffer and handed to the device in batches, so the
// send path allocates nothing per packet. Packets start 8-byte aligned (fast checksums); on a vnetHdr
// device each is preceded by a virtio_net_hdr (zeroed by reserve(): no offload unless the builder sets it).
import type { PacketDevice } from '../device.js';
import { VNET_HDR_LEN } from './vnet-hdr.js';

export class TxArena {
  readonly buf: Buffer;
  private readonly meta: Int32Array;
  private count = 0;
  private used = 0;
  /** Packets the device did not take. */
  dropped = 0;
  packets = 0;
  bytes = 0;
  /** Test hook: fraction of outgoing packets to drop (simulated loss). */
  dropRate = 0;
  random: () => number = Math.random;
  /** Bytes before each packet for the virtio_net_hdr (0 on a plain device). */
  readonly headroom: number;

  constructor(
    private readonly device: PacketDevice,
    size = 4 << 20,
    maxPackets = 1024,
  ) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.meta = new Int32Array(maxPackets * 2);
    this.headroom = device.vnetHdr ? VNET_HDR_LEN : 0;
  }

  /** True when TCP may be written with partial checksums and as GSO super-segments. */
  get vnetHdr(): boolean {
    return this.headroom > 0;
  }

  /** Returns an aligned offset for a packet of up to maxLen bytes, flushing first if needed. */
  reserve(maxLen: number): number {
    const lead = this.headroom > 0 ? 16 : 0; // header right before an aligned packet
    if (this.used + lead + maxLen > this.buf.length || this.count * 2 >= this.meta.length) this.flush();
    const off = this.used + lead;
    if (lead > 0) this.buf.fill(0, off - VNET_HDR_LEN, off);
    return off;
  }

  commit(off: number, len: number): void {
    if (this.dropRate > 0 && this.random() < this.dropRate) return;
    this.meta[this.count * 2] = off - this.headroom;
    this.meta[this.count * 2 + 1] = len + this.headroom;
    this.count++;
    this.used = (off + len + 7) & ~7;
    this.packets++;
    this.bytes += len;
  }

  get pending(): number {
    return this.count;
  }

  flush(): void {
    if (this.count === 0) return;
    const written = this.device.writeBatch(this.buf, this.meta, this.count);
    this.dropped += this.count - written;
    this.count = 0;
    this.used = 0;
  }
}
