// Socket reads straight into DATA frames, for sockets we create (the dialer's). Node reads a socket
// 64 KiB at a time into a fresh buffer, and write() then copies each read into a new frame. A socket
// made with frameReadSocketOptions() instead reads up to maxChunkBytes into a buffer laid out as a
// serialized DATA TunnelMessage (header room in front): a large read is sent as it is, no copy, and
// bigger reads mean fewer messages. A small read (an interactive flow) is copied out and the buffer
// kept, so a ping costs no 128 KiB allocation.
import type { OnReadOpts, Socket } from 'node:net';
import { DATA_HEADROOM, MAX_IN_PLACE_DATA, dataFrameInPlace, dataFrameWire } from './grpc-codec.js';

/** Receives one read: returns false to stop reading (back-pressure) until socket.resume(). */
export type FrameSink = (chunk: Buffer, frame: Buffer, wire: Buffer) => boolean;

/**
 * Reads smaller than this fraction of the buffer are copied out rather than handed on. So a frame holds
 * at most 4x its size in memory until the transport takes it (grpc-js copies it when it frames it).
 */
const HAND_OFF_FRACTION = 4;

/** The reading side of a socket created with frameReadSocketOptions(). */
export class FrameReader {
  private buf: Buffer | undefined;
  private sink: FrameSink | undefined;
  private readonly pending: Array<[Buffer, Buffer, Buffer]> = [];

  constructor(private readonly readBytes: number) {}

  /** For `net.connect({ onread })`. */
  readonly onread: OnReadOpts = {
    buffer: () => this.readBuffer(),
    callback: (n, userBuf) => this.onRead(n, userBuf),
  };

  /** Starts delivering reads (and any that arrived before). Returns false if the sink is full. */
  attach(sink: FrameSink): boolean {
    this.sink = sink;
    for (const [chunk, frame, wire] of this.pending.splice(0)) if (!sink(chunk, frame, wire)) return false;
    return true;
  }

  private readBuffer(): Buffer {
    this.buf ??= Buffer.allocUnsafe(DATA_HEADROOM + this.readBytes);
    return this.buf.subarray(DATA_HEADROOM);
  }

  private onRead(n: number, userBuf: Uint8Array): boolean {
    const buf = this.buf;
    if (buf === undefined || userBuf.buffer !== buf.buffer) return true; // cannot happen: one socket, one buffer
    let read: [Buffer, Buffer, Buffer];
    if (n * HAND_OFF_FRACTION >= this.readBytes) {
      const { chunk, frame, wire } = dataFrameInPlace(buf, n);
      this.buf = undefined; // handed on with the frame: the next read gets a new buffer
      read = [chunk, frame, wire];
    } else {
      const { frame, wire } = dataFrameWire(buf.subarray(DATA_HEADROOM, DATA_HEADROOM + n));
      read = [frame.subarray(1), frame, wire];
    }
    if (this.sink === undefined) {
      this.pending.push(read);
      return false; // nobody to take it yet: stop reading until attached and resumed
    }
    return this.sink(...read);
  }
}

const readers = new WeakMap<Socket, FrameReader>();

/**
 * Options for `net.connect` so that the socket reads into DATA frames of up to readBytes; pass the
 * socket to registerFrameReader() once created. pumpSocket() then uses the frames. Such a socket emits
 * no 'data' events: only pumpSocket() should read it.
 */
export function frameReader(readBytes: number): FrameReader {
  return new FrameReader(Math.max(1, Math.min(readBytes, MAX_IN_PLACE_DATA)));
}

export function registerFrameReader(socket: Socket, reader: FrameReader): void {
  readers.set(socket, reader);
}

/** The frame reader of a socket, if it was created with one. */
export function frameReaderOf(socket: Socket): FrameReader | undefined {
  return readers.get(socket);
}
