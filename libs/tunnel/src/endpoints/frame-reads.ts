// Socket reads straight into DATA frames, for sockets we create (the dialer's). Node reads a socket
// 64 KiB at a time into a fresh buffer, and write() then copies each read into a new frame. A socket
// made with connectReadingFrames() instead reads up to maxChunkBytes into a buffer laid out as a
// serialized DATA TunnelMessage (header room in front): a large read is sent as it is, no copy, and
// bigger reads mean fewer messages. A small read (an interactive flow) is copied out.
//
// Node holds a socket's read buffer from connect on, idle or not: 128 KiB per socket would be most of
// the memory of thousands of idle flows. So a socket reads into one buffer shared by all of them (a
// read is handled, and copied out, before the next socket's read lands there), and gets a buffer of its
// own only once a read fills a good part of it (bulk), until a small read copies out again.
import { connect, type OnReadOpts, type Socket, type TcpNetConnectOpts } from 'node:net';
import { Frame } from '../protocol/frame.js';
import {
  DATA_HEADROOM,
  MAX_IN_PLACE_DATA,
  dataFrameInPlace,
  dataFrameWire,
} from '../transports/grpc-codec.js';

/**
 * Receives one read as a whole DATA frame with its serialized form: returns false to stop reading
 * (back-pressure) until socket.resume(). A sink that returns false must pause the socket itself.
 */
export type FrameSink = (read: Frame) => boolean;

/**
 * Reads smaller than this fraction of the buffer are copied out rather than handed on. So a frame holds
 * at most 4x its size in memory until the transport takes it (grpc-js copies it when it frames it).
 */
const HAND_OFF_FRACTION = 4;

/** The read buffer of sockets that read little, one per readBytes (in practice one). */
let shared: Buffer | undefined;
const sharedViews = new Map<number, Buffer>();

function sharedView(readBytes: number): Buffer {
  if (shared === undefined) shared = Buffer.allocUnsafe(DATA_HEADROOM + MAX_IN_PLACE_DATA);
  let view = sharedViews.get(readBytes);
  if (view === undefined) {
    view = shared.subarray(DATA_HEADROOM, DATA_HEADROOM + readBytes);
    sharedViews.set(readBytes, view);
  }
  return view;
}

/** The reading side of a socket created with connectReadingFrames(). */
export class FrameReader {
  /** This socket's own read buffer while it reads in bulk; undefined: it reads into the shared one. */
  private buf: Buffer | undefined;
  private sink: FrameSink | undefined;
  /**
   * The read that arrived before attach(). At most one: onRead returns false then, which stops the
   * socket reading (and connectReadingFrames creates the socket paused).
   */
  private pending: Frame | undefined;

  constructor(private readonly readBytes: number) {}

  /** For `net.connect({ onread })`. */
  readonly onread: OnReadOpts = {
    buffer: () => this.readBuffer(),
    callback: (n, userBuf) => this.onRead(n, userBuf),
  };

  /** Starts delivering reads, first the one that arrived before (the sink pauses the socket if full). */
  attach(sink: FrameSink): void {
    this.sink = sink;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) sink(pending);
  }

  private readBuffer(): Buffer {
    return this.buf === undefined ? sharedView(this.readBytes) : this.buf.subarray(DATA_HEADROOM);
  }

  private onRead(n: number, userBuf: Uint8Array): boolean {
    const own = this.buf;
    const bulk = n * HAND_OFF_FRACTION >= this.readBytes;
    let read: Frame;
    if (own !== undefined && userBuf.buffer === own.buffer && bulk) {
      read = dataFrameInPlace(own, n);
      this.buf = Buffer.allocUnsafe(DATA_HEADROOM + this.readBytes); // handed on with the frame
    } else {
      // The shared buffer is read again as soon as this returns: copy out. A big read means bulk: the
      // next reads go to a buffer of this socket's own; a small one ends that.
      const { frame, wire } = dataFrameWire(Buffer.from(userBuf.buffer, userBuf.byteOffset, n));
      read = Frame.of(frame, wire);
      this.buf = bulk ? (own ?? Buffer.allocUnsafe(DATA_HEADROOM + this.readBytes)) : undefined;
    }
    if (this.sink === undefined) {
      this.pending = read;
      return false; // nobody to take it yet: stop reading until attached and resumed
    }
    return this.sink(read);
  }
}

const readers = new WeakMap<Socket, FrameReader>();

/**
 * `net.connect(options)`, but the socket reads into DATA frames of up to readBytes, which pumpSocket()
 * then sends as they are. The socket starts paused and emits no 'data' events: only pumpSocket()
 * should read it.
 */
export function connectReadingFrames(options: TcpNetConnectOpts, readBytes: number): Socket {
  const reader = new FrameReader(Math.max(1, Math.min(readBytes, MAX_IN_PLACE_DATA)));
  const socket = connect({ ...options, onread: reader.onread });
  readers.set(socket, reader);
  socket.pause(); // nothing reads until pumpSocket attaches
  return socket;
}

/** The frame reader of a socket, if it was created with one. */
export function frameReaderOf(socket: Socket): FrameReader | undefined {
  return readers.get(socket);
}
