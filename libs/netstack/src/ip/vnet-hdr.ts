// struct virtio_net_hdr (10 bytes, little-endian), which a TUN opened with IFF_VNET_HDR puts before every
// packet both ways. It lets the kernel hand us TSO super-segments (up to 64 KiB of TCP payload with the
// checksum left to us, which we skip: the data comes from the local kernel) and lets us write super-segments
// that the kernel segments (or delivers whole to the local TCP) and checksums itself.

export const VNET_HDR_LEN = 10;

/** flags: the L4 checksum is partial (pseudo header only); csum_start/csum_offset say where. */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the checksum was already verified. */
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_TCPV6 = 4;

/** True when the packet after the header needs no L4 checksum check (partial or already verified). */
export function vnetChecksumTrusted(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
}

/**
 * Header for an outgoing TCP packet whose checksum field holds only the pseudo-header sum: the kernel
 * completes it (CHECKSUM_PARTIAL). With gsoSize > 0 the packet is a super-segment of gsoSize-byte segments.
 */
export function writeTcpVnetHdr(
  buf: Buffer,
  off: number,
  ipLen: number,
  tcpHeaderLen: number,
  gsoType: number,
  gsoSize: number,
): void {
  buf[off] = VNET_F_NEEDS_CSUM;
  buf[off + 1] = gsoSize > 0 ? gsoType : VNET_GSO_NONE;
  buf.writeUInt16LE(ipLen + tcpHeaderLen, off + 2);
  buf.writeUInt16LE(gsoSize, off + 4);
  buf.writeUInt16LE(ipLen, off + 6);
  buf.writeUInt16LE(16, off + 8); // TCP checksum offset
}
