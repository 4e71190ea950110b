// Outgoing packets are built in place in one reusable buffer and handed to the device in batches, so the
// send path allocates nothing per packet. Packets start 8-byte aligned (fast checksums).
import type { PacketDevice } from '../device.js';

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

  constructor(
    private readonly device: PacketDevice,
    size = 4 << 20,
    maxPackets = 1024,
  ) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.meta = new Int32Array(maxPackets * 2);
  }

  /** Returns an aligned offset with room for maxLen bytes, flushing first if needed. */
  reserve(maxLen: number): number {
    if (this.used + maxLen > this.buf.length || this.count * 2 >= this.meta.length) this.flush();
    return this.used;
  }

  commit(off: number, len: number): void {
    if (this.dropRate > 0 && this.random() < this.dropRate) return;
    this.meta[this.count * 2] = off;
    this.meta[this.count * 2 + 1] = len;
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
