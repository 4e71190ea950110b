// The stack talks to a packet device through this small interface: the TUN in production, an in-memory
// fake in unit tests.

/** Packets laid out in one buffer: packet i is buffer[meta[2i] .. meta[2i] + meta[2i+1]). */
export interface PacketBatch {
  buffer: Buffer;
  meta: Int32Array;
  count: number;
}

export interface PacketDevice {
  /** Link MTU is configured elsewhere; this is only the read buffer size. */
  readonly maxPacket: number;
  /**
   * Every packet read and written starts with a 10-byte virtio_net_hdr (TUN with IFF_VNET_HDR): the stack
   * then writes TCP with partial checksums and as GSO super-segments. Packets start 8-byte aligned after it.
   */
  readonly vnetHdr?: boolean;
  /** Reads may be TSO super-segments (larger than the MTU, checksum partial): the kernel's TCP batches. */
  readonly receiveOffload?: boolean;
  start(onBatch: (batch: PacketBatch) => void, onError: (err: Error) => void): void;
  /** Writes `count` packets described by meta (same layout as PacketBatch); returns how many went out. */
  writeBatch(buffer: Uint8Array, meta: Int32Array, count: number): number;
  close(): void;
}
