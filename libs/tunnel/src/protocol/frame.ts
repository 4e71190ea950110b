// Frame: one tunnel frame (code byte + body, see codec.ts) as a value that every layer passes on as it
// is, in whichever form its bytes are at hand, so that none of them copies the data to move it along
// (the bulk path's copies were most of its CPU: docs/benchmarks.md). A frame is one of
//   whole     `bytes` is the frame: every control frame, a DATA frame received in one piece, or read
//             from a socket in place; `data` is then a view of its body;
//   data      a DATA frame written by the application: `data` only, the code byte is the transport's
//             to put in front (no copy into a new frame);
//   pieces    a DATA frame that arrived in pieces (HTTP/2 cuts messages into 16 KiB DATA frames):
//             `data` are views of them, `bytes` is undefined.
// `wire` is the frame as a transport already encoded it (a serialized gRPC TunnelMessage it received, or
// one read in place): opaque here, sent as it is by a transport that speaks that encoding.
import { MessageCode } from './codec.js';

const NO_DATA: readonly Buffer[] = Object.freeze([]);
const DATA_CODE = Buffer.of(MessageCode.DATA);

export class Frame {
  private constructor(
    /** The whole frame (code byte, then body) when it is one contiguous buffer. */
    readonly bytes: Buffer | undefined,
    /** A DATA frame's body in order, as views (never copies); empty for other frames. */
    readonly data: readonly Buffer[],
    /** The body's length (DATA frames). */
    readonly dataBytes: number,
    /** The frame as the transport encodes it, in pieces if it arrived so (see above). */
    readonly wire: Buffer | readonly Buffer[] | undefined,
  ) {}

  /** A frame that is one buffer (control frames, DATA received or read whole). */
  static of(bytes: Buffer, wire?: Buffer | readonly Buffer[]): Frame {
    if (bytes[0] !== MessageCode.DATA) return new Frame(bytes, NO_DATA, 0, wire);
    return new Frame(bytes, [bytes.subarray(1)], bytes.length - 1, wire);
  }

  /** A DATA frame of `data` (not empty) without its code byte: nothing is copied. */
  static data(data: Buffer): Frame {
    return new Frame(undefined, [data], data.length, undefined);
  }

  /** A DATA frame that arrived in pieces: `data` (dataBytes in all) as views of `wire`. */
  static pieces(data: readonly Buffer[], dataBytes: number, wire: readonly Buffer[]): Frame {
    return new Frame(undefined, data, dataBytes, wire);
  }

  /** The frame as one buffer: `bytes`, or the DATA frame joined (one copy) for a transport that needs it. */
  joined(): Buffer {
    return this.bytes ?? Buffer.concat([DATA_CODE, ...this.data], this.dataBytes + 1);
  }
}
