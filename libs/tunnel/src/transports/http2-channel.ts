// A FrameChannel straight on a node:http2 stream that speaks gRPC's wire protocol for one Tunnel call
// (length-prefixed TunnelMessages, grpc-status trailers), without grpc-js's call machinery in the data
// path. grpc-js costs about 2.5x the CPU per byte of node:http2 itself, and a flow crosses three
// HTTP/2 endpoints (client, manager twice, agent): see README "Transports". Peers may be grpc-js; the
// bytes on the wire are the same.
import http2, {
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { bdpWindowOf, type BdpWindow } from './bdp.js';
import type { ChannelHandlers, FrameChannel } from '../protocol/channel.js';
import { TunnelError } from '../protocol/errors.js';
import { Frame } from '../protocol/frame.js';
import { MessageCode } from '../protocol/codec.js';
import { STATUS_FOR } from './grpc-channel.js';
import {
  EARLY_FRAMES_STATUS,
  FRAMES_HEADER,
  MAX_HELD_BYTES,
  decodeFrames,
  encodeFrames,
  headerAction,
  openOfRequest,
  ANSWERS_HEADER,
  ANSWERS_IN_HEADERS,
  TRAILER_FRAMES_HEADER,
} from './handshake-headers.js';
import {
  dataMessageHeader,
  dataOfMessagePieces,
  deserializeTunnelMessage,
  serializeTunnelMessage,
} from './grpc-codec.js';
import { DeferredEnds } from './deferred-ends.js';
import { SessionWrites } from './http2-writes.js';
import {
  REUSE_HEADER,
  REUSE_MESSAGE,
  SERVER_REUSE_MAX_AGE_MS,
  isReuseMessage,
  type Recycle,
} from './call-reuse.js';

/** Largest gRPC message a channel accepts (a tunnel frame is at most 1 MiB by default). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const PREFIX_BYTES = 5; // compressed flag, 4-byte big-endian length

/** Why a received byte sequence is not a gRPC message stream we take. */
export class GrpcFramingError extends Error {
  constructor(
    message: string,
    readonly status: GrpcStatus,
  ) {
    super(message);
  }
}

/**
 * Splits a stream's bytes into gRPC messages. A message that arrived in one chunk is passed on as a
 * view of it (no copy); one split across chunks (HTTP/2 DATA frames are 16 KiB) is assembled once, or,
 * with `onPieces`, passed on as views of the chunks, in order.
 */
export class GrpcMessageReader {
  /** Only for a prefix split across chunks (rare): made then. */
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private pieces: Buffer[] | undefined;
  private piecesNeed = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (message: Buffer) => void,
    private readonly onPieces?: (pieces: Buffer[]) => void,
  ) {}

  /** Throws GrpcFramingError for a compressed or oversize message; the reader is then unusable. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.pieces !== undefined) {
        const n = Math.min(this.piecesNeed, chunk.length - at);
        this.pieces.push(chunk.subarray(at, at + n));
        this.piecesNeed -= n;
        at += n;
        if (this.piecesNeed === 0) {
          const pieces = this.pieces;
          this.pieces = undefined;
          this.onPieces!(pieces);
        }
        continue;
      }
      if (this.body !== undefined) {
        const n = Math.min(this.body.length - this.bodyFill, chunk.length - at);
        chunk.copy(this.body, this.bodyFill, at, at + n);
        this.bodyFill += n;
        at += n;
        if (this.bodyFill === this.body.length) this.emitBody();
        continue;
      }
      if (this.prefixFill === 0 && chunk.length - at >= PREFIX_BYTES) {
        const len = this.messageLength(chunk[at]!, chunk.readUInt32BE(at + 1));
        at += PREFIX_BYTES;
        if (chunk.length - at >= len) {
          this.onMessage(chunk.subarray(at, at + len));
          at += len;
        } else if (this.onPieces !== undefined) {
          this.pieces = [chunk.subarray(at)];
          this.piecesNeed = len - (chunk.length - at);
          at = chunk.length;
        } else this.startBody(len);
        continue;
      }
      const prefix = (this.prefix ??= Buffer.alloc(PREFIX_BYTES));
      const n = Math.min(PREFIX_BYTES - this.prefixFill, chunk.length - at);
      chunk.copy(prefix, this.prefixFill, at, at + n);
      this.prefixFill += n;
      at += n;
      if (this.prefixFill === PREFIX_BYTES) {
        this.prefixFill = 0;
        const len = this.messageLength(prefix[0]!, prefix.readUInt32BE(1));
        if (len === 0) this.onMessage(Buffer.alloc(0));
        else this.startBody(len);
      }
    }
  }

  /** True between messages (a stream that ends here ended cleanly). */
  get atBoundary(): boolean {
    return this.body === undefined && this.pieces === undefined && this.prefixFill === 0;
  }

  private startBody(len: number): void {
    this.body = Buffer.allocUnsafe(len);
    this.bodyFill = 0;
  }

  private emitBody(): void {
    const body = this.body!;
    this.body = undefined;
    this.onMessage(body);
  }

  private messageLength(flag: number, len: number): number {
    if (flag !== 0)
      throw new GrpcFramingError(
        'compressed tunnel messages are not supported (no grpc-encoding was negotiated)',
        GrpcStatus.UNIMPLEMENTED,
      );
    if (len > this.maxBytes)
      throw new GrpcFramingError(
        `tunnel message of ${len} bytes exceeds the ${this.maxBytes}-byte limit`,
        GrpcStatus.RESOURCE_EXHAUSTED,
      );
    return len;
  }
}

/**
 * The client side of a Tunnel call made with `session.request(...)` (handshake in DATA). With `recycle`
 * (the request said `tp-reuse: 1`), a call whose flow ended cleanly is handed to it for the next flow
 * (call-reuse.ts).
 */
export function http2ClientChannel(
  stream: ClientHttp2Stream,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  recycle?: Recycle,
): FrameChannel {
  return new Http2Channel(stream, 'client', maxMessageBytes, 0, undefined, false, false, recycle);
}

/**
 * How long an aborted server call may take to get its status out (behind data the client does not
 * read) before it is reset instead, so that a stuck client cannot hold it.
 */
export const ABORT_LINGER_MS = 5_000;

/**
 * The server side of a Tunnel call, from an HTTP/2 server's 'stream' event. With `recycle`, for a
 * client that asked (`tp-reuse: 1`), a flow that ends cleanly leaves the call open for the next one,
 * whose channel goes to `recycle` (call-reuse.ts).
 */
export function http2ServerChannel(
  stream: ServerHttp2Stream,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  abortLingerMs = ABORT_LINGER_MS,
  requestHeaders?: IncomingHttpHeaders,
  recycle?: Recycle,
): FrameChannel {
  const open = openOfRequest(requestHeaders);
  const answersInHeaders = open !== undefined || requestHeaders?.[ANSWERS_HEADER] === ANSWERS_IN_HEADERS;
  const closeInTrailers = requestHeaders?.[TRAILER_FRAMES_HEADER] === '1';
  return new Http2Channel(
    stream,
    'server',
    maxMessageBytes,
    abortLingerMs,
    open,
    answersInHeaders,
    closeInTrailers,
    requestHeaders?.[REUSE_HEADER] === '1' ? recycle : undefined,
  );
}

type Status = { code: number; message: string };

type AnyStream = ClientHttp2Stream | ServerHttp2Stream;
/** The channel of a stream, for the listeners below, which every channel shares. */
const CHANNEL = Symbol('Http2Channel');
type OwnedStream = AnyStream & { [CHANNEL]: Http2Channel };

function ignore(): void {}

class Http2Channel implements FrameChannel {
  private finished = false;
  private handlers: ChannelHandlers | undefined;
  private readonly reader: GrpcMessageReader;
  /** Client: the status the server sent. Server: the status our trailers will carry. */
  private status: Status | undefined;
  /** When a write is really done (see http2-writes.ts); undefined on a stream without a session. */
  private readonly writes: SessionWrites | undefined;
  private readonly bdp: BdpWindow | undefined;
  /** Server: the OPEN the request headers carried; its copy in DATA, the first message, is dropped. */
  private duplicateOpen: Buffer | undefined;
  /** Server, for a client that takes answers in headers: frames held for the response headers. */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  private earlySent = false;
  /** OPEN_OK, until the end of the tick it was sent in (see holdForHeaders). */
  private early: Buffer | undefined;
  /**
   * Client, until the response headers: DATA (and its end) that node:http2 emitted before them. It emits
   * headers events on the next tick and 'data' at once; on a connection that is not a net.Socket (the
   * port-forward's WebSocket stream) a read with HEADERS and DATA is processed inside one JavaScript call,
   * so the 103 with OPEN_OK and the response with DIAL_OK came after the data that followed them on the
   * wire. Replayed in wire order after the response.
   */
  private beforeResponse: { chunks: Buffer[]; ended: boolean } | undefined;
  /** Server: our CLOSE_SEND, until the end of the tick it was sent in (see holdClose). */
  private heldClose: Buffer | undefined;
  /** Server: the CLOSE_SEND that goes in the trailers (the call ended in the tick it was sent in). */
  private trailerClose: Buffer | undefined;
  /** Client: frames the server sent in its trailers, handed on after its last DATA (at the end). */
  private trailerFrames: Buffer[] | undefined;
  /** When the call began (its first flow): a server reuses a call only so long. */
  private readonly callStartedAt: number;
  /** Client: the server's response said it reuses calls. */
  private serverReuses = false;
  /** Client: the server offered the call for another flow (REUSE_MESSAGE). */
  private reuseOffered = false;
  /** Client: our flow is over; the call waits for REUSE_MESSAGE (or its end). */
  private awaitingReuse = false;
  /** This flow's part of the call is over and the call went on (or is parked): nothing goes through us. */
  private retired = false;
  /** Server, a later flow on the call: what the client sent for the last flow is dropped until an OPEN. */
  private skipToOpen = false;
  /** A later flow on the call: the stream's listeners are there already. */
  private readonly inherited: boolean;

  constructor(
    private readonly stream: AnyStream,
    private readonly side: 'client' | 'server',
    maxMessageBytes: number,
    private readonly abortLingerMs: number,
    private readonly headerOpen?: Buffer,
    answersInHeaders = headerOpen !== undefined,
    /** Server: the client reads frames in trailers (TRAILER_FRAMES_HEADER). */
    private readonly closeInTrailers = false,
    /** Set when both ends reuse calls (call-reuse.ts). */
    private readonly recycle?: Recycle,
    /** The call's last flow, for a later flow on the same call. */
    from?: Http2Channel,
  ) {
    this.bdp = bdpWindowOf(stream.session);
    const session = stream.session;
    this.writes = session === undefined ? undefined : SessionWrites.of(session);
    (stream as OwnedStream)[CHANNEL] = this;
    if (from !== undefined) {
      this.inherited = true;
      this.reader = from.reader;
      this.callStartedAt = from.callStartedAt;
      this.serverReuses = from.serverReuses;
      this.skipToOpen = side === 'server';
      return;
    }
    this.inherited = false;
    this.callStartedAt = Date.now();
    if (side === 'client') this.beforeResponse = { chunks: [], ended: false };
    this.duplicateOpen = headerOpen;
    if (answersInHeaders) this.held = [];
    // Through the stream, to whichever flow's channel has the call now.
    this.reader = new GrpcMessageReader(
      maxMessageBytes,
      (m) => Http2Channel.of(stream).onMessage(m),
      (pieces) => Http2Channel.of(stream).onPieces(pieces),
    );
    // Until start(), errors are kept for 'close' to report (an unhandled 'error' would throw).
    stream.on('error', ignore);
  }

  // The stream's listeners are these static functions (`this` is the stream), shared by every channel:
  // closures per call add up with thousands of idle flows.
  private static of(stream: AnyStream): Http2Channel {
    return (stream as OwnedStream)[CHANNEL];
  }
  private static onData(this: AnyStream, chunk: Buffer): void {
    Http2Channel.of(this).onData(chunk);
  }
  private static onStreamEnd(this: AnyStream): void {
    Http2Channel.of(this).onEnd();
  }
  private static onError(this: AnyStream, e: Error): void {
    const channel = Http2Channel.of(this);
    channel.report(channel.transportError(e.message, e));
  }
  private static onClose(this: AnyStream): void {
    const channel = Http2Channel.of(this);
    // Usually the call ended first: no error (and its stack trace) to make.
    if (!channel.finished) channel.report(channel.transportError(channel.closeReason()));
  }
  private static onInfoHeaders(this: AnyStream, headers: IncomingHttpHeaders): void {
    Http2Channel.of(this).framesOfHeaders(headers);
  }
  private static onResponse(this: AnyStream, headers: IncomingHttpHeaders): void {
    Http2Channel.of(this).onResponseHeaders(headers);
  }
  private static onTrailers(this: AnyStream, trailers: IncomingHttpHeaders): void {
    const channel = Http2Channel.of(this);
    channel.takeStatus(trailers);
    channel.takeTrailerFrames(trailers);
  }
  private static onWantTrailers(this: ServerHttp2Stream): void {
    const channel = Http2Channel.of(this);
    const close = channel.trailerClose;
    channel.trailerClose = undefined;
    this.sendTrailers({
      ...statusHeaders(channel.status ?? { code: GrpcStatus.OK, message: '' }),
      ...(close === undefined ? {} : { [FRAMES_HEADER]: encodeFrames([close]) }),
    });
  }

  start(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    if (this.inherited) return;
    const stream = this.stream;
    stream.on('data', Http2Channel.onData);
    stream.on('end', Http2Channel.onStreamEnd);
    stream.on('error', Http2Channel.onError);
    stream.on('close', Http2Channel.onClose);
    if (this.side === 'client') {
      const client = stream as ClientHttp2Stream;
      client.on('headers', Http2Channel.onInfoHeaders);
      client.on('response', Http2Channel.onResponse);
      client.on('trailers', Http2Channel.onTrailers);
    }
    const open = this.headerOpen;
    // After the caller's synchronous setup (acceptStream waits for OPEN once start() returned).
    if (open !== undefined) queueMicrotask(() => !this.finished && handlers.frame(Frame.of(open)));
  }

  private onData(chunk: Buffer): void {
    this.bdp?.received(chunk.length);
    if (this.finished && !this.awaitingReuse) return;
    if (this.beforeResponse !== undefined) this.beforeResponse.chunks.push(chunk);
    else this.read(chunk);
  }

  private read(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (e) {
      const f =
        e instanceof GrpcFramingError
          ? e
          : new GrpcFramingError(e instanceof Error ? e.message : String(e), GrpcStatus.INTERNAL);
      // The status goes out first: reporting makes the stream close the channel (with OK).
      this.fail(f.status, f.message);
      const name = GrpcStatus[f.status];
      this.report(new TunnelError('transport', `tunnel call failed: ${name}: ${f.message}`, name));
    }
  }

  /**
   * One gRPC message per frame, with no copy of its data: its wire form as it came, or for a DATA frame
   * the gRPC prefix and the message's header in one small buffer and then the data as it is.
   */
  send(frame: Frame, done: () => void): void {
    if (this.retired) {
      done();
      return;
    }
    const { bytes, wire } = frame;
    if (this.heldClose !== undefined) this.sendHeldClose(); // whatever comes after it stays after it
    if (bytes !== undefined && this.held !== undefined && this.holdForHeaders(bytes)) {
      done();
      return;
    }
    if (bytes !== undefined && this.closeInTrailers && bytes[0] === MessageCode.CLOSE_SEND) {
      this.holdClose(bytes);
      done();
      return;
    }
    if (wire !== undefined) {
      let length = 0;
      if (Buffer.isBuffer(wire)) length = wire.length;
      else for (const b of wire) length += b.length;
      this.writeMessage(Buffer.allocUnsafe(PREFIX_BYTES), wire, length, done);
    } else if (bytes !== undefined) {
      this.writeControl(bytes, done);
    } else {
      const header = dataMessageHeader(frame.dataBytes, PREFIX_BYTES);
      this.writeMessage(header, frame.data, header.length - PREFIX_BYTES + frame.dataBytes, done);
    }
  }

  /**
   * Writes one gRPC message: `head` (PREFIX_BYTES for the prefix, then any bytes of the message) and
   * `rest`, `length` message bytes in all, with one writev; `done` once node:http2 no longer reads them
   * (on a stream destroyed meanwhile, later than its callback: see http2-writes.ts).
   */
  private writeMessage(
    head: Buffer,
    rest: Uint8Array | readonly Uint8Array[],
    length: number,
    done: () => void,
  ): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) {
      done();
      return;
    }
    this.respondOnce();
    head[0] = 0; // not compressed
    head.writeUInt32BE(length, 1);
    const writes = this.writes;
    const n = writes?.start() ?? 0;
    stream.cork();
    stream.write(head);
    let last: Uint8Array;
    if (rest instanceof Uint8Array) last = rest;
    else {
      const n = rest.length - 1;
      for (let i = 0; i < n; i++) stream.write(rest[i]);
      last = rest[n]!;
    }
    stream.write(last, (err) => {
      const unsure = err != null || stream.destroyed;
      if (writes === undefined) done();
      else writes.settle(n, unsure, done, unsure ? [head, rest] : undefined);
    });
    stream.uncork();
  }

  pause(): void {
    if (!this.retired) this.stream.pause();
  }

  resume(): void {
    if (!this.retired) this.stream.resume();
  }

  close(): void {
    if (this.retired) return;
    if (!this.finished && this.recycle !== undefined && this.reuseCall()) return;
    this.finished = true;
    this.release();
    if (this.stream.destroyed || this.stream.writableEnded) return;
    if (this.side === 'server') {
      this.status ??= { code: GrpcStatus.OK, message: '' };
      this.trailerClose = this.heldClose; // the trailers carry it (onWantTrailers)
      this.heldClose = undefined;
      this.respondOnce();
    } else {
      // The tunnel protocol already said the call is over (both CLOSE_SENDs, a DIAL_REJECT or a
      // DISCONNECT): the END_STREAM only releases the stream, so it goes with the next frame.
      DeferredEnds.end(this.stream as ClientHttp2Stream);
      return;
    }
    this.stream.end();
  }

  abort(err: TunnelError): void {
    if (this.retired) return;
    this.finished = true;
    this.release();
    this.fail(STATUS_FOR[err.code], err.message);
  }

  /** Ends the call with an error status (server) or RST_STREAM CANCEL (client). */
  private fail(code: GrpcStatus, message: string): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    if (this.side === 'client') {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    if (stream.writableEnded) return;
    if (this.heldClose !== undefined) this.sendHeldClose(); // as DATA, ahead of the error status
    this.status = { code, message };
    const server = stream as ServerHttp2Stream;
    if (!server.headersSent) {
      // Trailers-only response: the status rides on the headers.
      server.respond(
        { ...RESPONSE_HEADERS, ...this.takeHeld(), ...statusHeaders(this.status) },
        { endStream: true },
      );
      return;
    }
    server.end(); // the status follows the data already written, as trailers
    const linger = setTimeout(() => {
      if (!server.closed) server.close(http2.constants.NGHTTP2_CANCEL);
    }, this.abortLingerMs);
    linger.unref();
    server.once('close', () => clearTimeout(linger));
  }

  /**
   * The flow ended cleanly: keeps the call for the next flow if both ends can (call-reuse.ts). Server:
   * the flow's last frames, then REUSE_MESSAGE, and the next flow's channel goes to `recycle` now.
   * Client: the call goes to `recycle` once REUSE_MESSAGE is here too. False: end the call as always.
   */
  private reuseCall(): boolean {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded || stream.readableEnded) return false;
    const session = stream.session;
    if (session === undefined || session.closed || session.destroyed) return false;
    if (this.side === 'server') {
      if (Date.now() - this.callStartedAt >= SERVER_REUSE_MAX_AGE_MS) return false;
      this.finished = true;
      stream.cork();
      this.respondOnce(); // a flow refused before any answer: what it sent goes in the headers
      this.sendHeldClose();
      this.writeMessage(Buffer.allocUnsafe(PREFIX_BYTES), REUSE_MESSAGE, REUSE_MESSAGE.length, ignore);
      stream.uncork();
      this.retire();
      return true;
    }
    if (!this.serverReuses) return false;
    this.finished = true;
    this.release();
    if (this.reuseOffered) this.retire();
    else this.awaitingReuse = true;
    return true;
  }

  /** Hands the call on for its next flow; this channel no longer touches it. */
  private retire(): void {
    this.retired = true;
    this.awaitingReuse = false;
    this.handlers = undefined; // a parked call does not keep the last flow alive
    this.release();
    this.recycle!(() => this.successor());
  }

  private successor(): Http2Channel {
    return new Http2Channel(
      this.stream,
      this.side,
      0, // the reader is the call's, made with the first flow
      this.abortLingerMs,
      undefined,
      false,
      this.closeInTrailers,
      this.recycle,
      this,
    );
  }

  /** Client: REUSE_MESSAGE came, before or after our own side of the flow ended. */
  private onReuseOffered(): void {
    if (this.retired) return;
    if (this.awaitingReuse) this.retire();
    else this.reuseOffered = true;
  }

  /**
   * Server, for a client that reads frames in trailers: our CLOSE_SEND waits for the end of this tick.
   * If the call ends meanwhile (close(): we are the last side to half-close), it goes in the trailers;
   * otherwise (the client still sends) as DATA, as always.
   */
  private holdClose(frame: Buffer): void {
    this.heldClose = Buffer.from(frame); // the caller may reuse its buffer once done() ran
    queueMicrotask(() => this.sendHeldClose());
  }

  private sendHeldClose(): void {
    const frame = this.heldClose;
    this.heldClose = undefined;
    if (frame === undefined || this.stream.destroyed || this.stream.writableEnded) return;
    this.writeControl(frame, ignore);
  }

  /** A control frame as one gRPC message. */
  private writeControl(bytes: Buffer, done: () => void): void {
    const body = serializeTunnelMessage({ payload: bytes });
    this.writeMessage(Buffer.allocUnsafe(PREFIX_BYTES), body, body.length, done);
  }

  /**
   * A control frame sent before the response headers, to a client that takes answers in headers:
   * OPEN_OK goes out at once in a 103, the others wait for the 200 (which the dial result sends).
   * False for a frame that goes as DATA (the headers go first, with what is held).
   */
  private holdForHeaders(frame: Buffer): boolean {
    const server = this.stream as ServerHttp2Stream;
    if (server.headersSent || server.destroyed || server.writableEnded) return false;
    const action = headerAction(frame);
    if (action === 'data' || this.heldBytes + frame.length > MAX_HELD_BYTES) return false;
    if (action === 'early' && !this.earlySent) {
      // At the end of this tick, unless the response goes first and takes it along: an acceptor that
      // sends OPEN_OK and DIAL_OK together (deferOpenOk) answers in one HEADERS frame.
      this.earlySent = true;
      this.early = Buffer.from(frame);
      queueMicrotask(() => this.sendEarly());
      return true;
    }
    this.held!.push(Buffer.from(frame)); // the caller may reuse its buffer once done() ran
    this.heldBytes += frame.length;
    if (action === 'hold-last') this.respondOnce();
    return true;
  }

  private sendEarly(): void {
    const early = this.early;
    this.early = undefined;
    const server = this.stream as ServerHttp2Stream;
    if (early === undefined || server.headersSent || server.destroyed) return;
    server.additionalHeaders({ ':status': EARLY_FRAMES_STATUS, [FRAMES_HEADER]: encodeFrames([early]) });
  }

  /** The held frames as a response header, OPEN_OK first if it has not gone out (nothing held after). */
  private takeHeld(): OutgoingHttpHeaders {
    const held = this.held ?? [];
    this.held = undefined;
    if (this.early !== undefined) held.unshift(this.early);
    this.early = undefined;
    return held.length === 0 ? {} : { [FRAMES_HEADER]: encodeFrames(held) };
  }

  private respondOnce(): void {
    if (this.side !== 'server') return;
    const server = this.stream as ServerHttp2Stream;
    if (server.headersSent || server.destroyed) return;
    const headers = this.recycle === undefined ? RESPONSE_HEADERS : REUSE_RESPONSE_HEADERS;
    server.respond({ ...headers, ...this.takeHeld() }, { waitForTrailers: true });
    server.on('wantTrailers', Http2Channel.onWantTrailers); // emitted once
  }

  /** After we are done: keep reading (and dropping) so the peer's remaining data and trailers arrive. */
  private release(): void {
    this.stream.resume();
  }

  private onMessage(message: Buffer): void {
    if (this.serverReuses && isReuseMessage(message)) {
      this.onReuseOffered();
      return;
    }
    if (this.finished) return;
    const m = deserializeTunnelMessage(message);
    if (this.skipToOpen) {
      if (m.payload[0] !== MessageCode.OPEN) return;
      this.skipToOpen = false;
    }
    const duplicate = this.duplicateOpen;
    if (duplicate !== undefined) {
      this.duplicateOpen = undefined;
      if (m.payload.equals(duplicate)) return;
    }
    this.handlers?.frame(Frame.of(m.payload, m.wire));
  }

  /** A message in pieces: a DATA frame is passed on as it is; anything else is joined first. */
  private onPieces(pieces: Buffer[]): void {
    if (this.finished && !this.awaitingReuse) return;
    const data = dataOfMessagePieces(pieces);
    if (data === undefined) {
      // Anything else split across reads: a control frame, the next flow's OPEN, REUSE_MESSAGE.
      this.onMessage(Buffer.concat(pieces));
      return;
    }
    if (this.finished || this.skipToOpen) return; // data of a flow that is over
    let bytes = 0;
    for (const d of data) bytes += d.length;
    this.handlers?.frame(Frame.pieces(data, bytes, pieces));
  }

  private onResponseHeaders(headers: IncomingHttpHeaders): void {
    const httpStatus = Number(headers[':status']);
    if (httpStatus !== 200) {
      this.fail(GrpcStatus.UNKNOWN, '');
      this.report(this.transportError(`HTTP status ${httpStatus} instead of a gRPC response`));
      return;
    }
    this.serverReuses = this.recycle !== undefined && headers[REUSE_HEADER] === '1';
    this.framesOfHeaders(headers);
    if (headers['grpc-status'] !== undefined) this.takeStatus(headers);
    const early = this.beforeResponse;
    this.beforeResponse = undefined;
    for (const chunk of early?.chunks ?? []) if (!this.finished) this.read(chunk);
    if (early?.ended === true) this.onEnd();
  }

  /** Client: control frames the server sent in headers (a 103 or the response), ahead of its DATA. */
  private framesOfHeaders(headers: IncomingHttpHeaders): void {
    let frames: Buffer[] | undefined;
    try {
      frames = decodeFrames(headers, FRAMES_HEADER);
    } catch (e) {
      this.fail(GrpcStatus.INTERNAL, '');
      this.report(this.transportError((e as Error).message));
      return;
    }
    for (const f of frames ?? []) {
      if (this.finished) return;
      this.handlers?.frame(Frame.of(f));
    }
  }

  /** Client: the frames of the trailers, handed on at the end (after DATA still buffered before it). */
  private takeTrailerFrames(trailers: IncomingHttpHeaders): void {
    try {
      this.trailerFrames = decodeFrames(trailers, FRAMES_HEADER);
    } catch (e) {
      this.fail(GrpcStatus.INTERNAL, '');
      this.report(this.transportError((e as Error).message));
    }
  }

  private takeStatus(headers: IncomingHttpHeaders): void {
    const code = Number(headers['grpc-status']);
    this.status = {
      code: Number.isInteger(code) ? code : GrpcStatus.UNKNOWN,
      message: decodeStatusMessage(headers['grpc-message']),
    };
  }

  private onEnd(): void {
    if (this.beforeResponse !== undefined) {
      this.beforeResponse.ended = true;
      return;
    }
    if (this.awaitingReuse || this.retired) {
      // Client: the server ended a call whose flow was over (no reuse after all) or that was parked.
      this.awaitingReuse = false;
      if (!this.stream.writableEnded) DeferredEnds.end(this.stream as ClientHttp2Stream);
      return;
    }
    if (this.side === 'server') {
      // The client half-closed its side of the call.
      if (this.reader.atBoundary) this.report(undefined);
      else this.report(this.insideMessage());
      return;
    }
    const frames = this.trailerFrames;
    this.trailerFrames = undefined;
    for (const f of frames ?? []) {
      if (this.finished) return;
      this.handlers?.frame(Frame.of(f));
    }
    if (this.finished) return;
    const s = this.status;
    if (s === undefined) this.report(this.transportError('the server ended the call without a status'));
    else if (s.code !== GrpcStatus.OK) this.report(this.statusError(s));
    else if (!this.reader.atBoundary) this.report(this.insideMessage());
    else this.report(undefined);
  }

  /** Why the stream closed before the call ended (a client's error status wins: transportError). */
  private closeReason(): string {
    if (this.side === 'server') return 'tunnel call cancelled by the peer';
    const code = this.stream.rstCode;
    return code === undefined || code === http2.constants.NGHTTP2_NO_ERROR
      ? 'the connection closed before the call ended'
      : `stream reset by the server (HTTP/2 error ${code})`;
  }

  // A call whose gRPC framing fails is a failed call ('transport', as grpc-js reports it: INTERNAL), not
  // a tunnel frame that broke the protocol: the tunnel frames inside it were never seen.
  private insideMessage(): TunnelError {
    return new TunnelError('transport', 'tunnel call failed: INTERNAL: ended inside a message', 'INTERNAL');
  }

  private statusError(s: Status): TunnelError {
    const name = GrpcStatus[s.code] ?? String(s.code);
    return new TunnelError('transport', `tunnel call failed: ${name}: ${s.message}`, name);
  }

  private transportError(details: string, cause?: unknown): TunnelError {
    if (this.side === 'client' && this.status !== undefined && this.status.code !== GrpcStatus.OK)
      return this.statusError(this.status);
    const name = this.side === 'server' ? 'CANCELLED' : 'UNAVAILABLE';
    return new TunnelError('transport', `tunnel call failed: ${name}: ${details}`, name, { cause });
  }

  private report(err: TunnelError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
    if (err === undefined) this.handlers?.end();
    else this.handlers?.error(err);
  }
}

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const REUSE_RESPONSE_HEADERS = { ...RESPONSE_HEADERS, [REUSE_HEADER]: '1' };

function statusHeaders(s: Status): Record<string, string> {
  const h: Record<string, string> = { 'grpc-status': String(s.code) };
  if (s.message !== '') h['grpc-message'] = encodeURI(s.message);
  return h;
}

function decodeStatusMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(',') : (v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
