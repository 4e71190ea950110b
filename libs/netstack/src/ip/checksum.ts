// Internet checksum (RFC 1071). The one's complement sum does not depend on byte order, so aligned data is
// summed as native (little-endian) 32-bit words and swapped once at the end: ~4x fewer steps than bytes.

let cachedBuffer: ArrayBufferLike | undefined;
let cachedWords: Uint32Array | undefined;

function wordsOf(buffer: ArrayBufferLike): Uint32Array {
  if (buffer !== cachedBuffer) {
    cachedBuffer = buffer;
    cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return cachedWords!;
}

/** Folds a partial sum to 16 bits (not inverted). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Big-endian 16-bit one's complement partial sum of buf[off, off+len) (not inverted, folded to 16 bits). */
export function onesSum(buf: Uint8Array, off: number, len: number): number {
  const abs = buf.byteOffset + off;
  let le = 0;
  let i = 0;
  if ((abs & 3) === 0 && len >= 16) {
    const words = wordsOf(buf.buffer);
    const n = len >>> 2;
    let w = abs >>> 2;
    const end = w + n;
    // Split the accumulator so it stays a small integer (SMI/double-free) as long as possible.
    let a = 0;
    let b = 0;
    for (; w + 1 < end; w += 2) {
      const x = words[w]!;
      const y = words[w + 1]!;
      a += (x & 0xffff) + (x >>> 16);
      b += (y & 0xffff) + (y >>> 16);
    }
    if (w < end) {
      const x = words[w]!;
      a += (x & 0xffff) + (x >>> 16);
    }
    le = a + b;
    i = n << 2;
  }
  // Tail (or unaligned data) byte by byte in little-endian word terms: even offsets (from off) are the low byte.
  for (; i < len; i++) {
    const byte = buf[off + i]!;
    le += (i & 1) === 0 ? byte : byte << 8;
  }
  le = fold(le);
  return ((le & 0xff) << 8) | (le >>> 8);
}

/** Final checksum from partial sums: fold and invert. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Sum of the TCP/UDP pseudo header for IPv4 (addresses at srcOff/dstOff, 4 bytes each). */
export function pseudoSum4(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  proto: number,
  len: number,
): number {
  return (
    ((buf[srcOff]! << 8) | buf[srcOff + 1]!) +
    ((buf[srcOff + 2]! << 8) | buf[srcOff + 3]!) +
    ((buf[dstOff]! << 8) | buf[dstOff + 1]!) +
    ((buf[dstOff + 2]! << 8) | buf[dstOff + 3]!) +
    proto +
    len
  );
}

/** Sum of the IPv6 pseudo header (addresses at srcOff/dstOff, 16 bytes each). */
export function pseudoSum6(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  proto: number,
  len: number,
): number {
  let s = proto + (len >>> 16) + (len & 0xffff);
  for (let i = 0; i < 16; i += 2) {
    s += (buf[srcOff + i]! << 8) | buf[srcOff + i + 1]!;
    s += (buf[dstOff + i]! << 8) | buf[dstOff + i + 1]!;
  }
  return s;
}
