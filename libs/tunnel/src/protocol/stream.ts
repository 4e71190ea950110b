// TunnelStream: one L4 flow over one FrameChannel (one gRPC bidi call).
//
// Handshake
//   The opener (openStream) sends OPEN {version range, conn id, session id, dial timeout, latency} and
//   waits up to handshakeTimeoutMs for OPEN_OK {version}. The acceptor (acceptStream) requires OPEN as
//   the first frame, picks the highest version both speak and answers OPEN_OK with it. With no common
//   version it answers OPEN_OK with a version outside the opener's range plus DISCONNECT, so both ends
//   fail at once with code 'version' and a message naming both ranges (never a hang).
//
// States (after the handshake)
//   open ──end()──────────────▶ local half-closed ──peer CLOSE_SEND──▶ closed 'eof'
//   open ──peer CLOSE_SEND────▶ remote half-closed ──end()───────────▶ closed 'eof'
//   any ──(every way below)───▶ closed
//   Half-close is an in-band CLOSE_SEND frame in both directions (a gRPC server cannot half-close), so
//   after sending it a side keeps receiving DATA and may still send control frames (KEEP_ALIVE, DIAL_*).
//
// Every way a stream ends (StreamEnd.reason; `error` is set unless noted)
//   eof              both sides sent CLOSE_SEND; the call is ended cleanly (no error)
//   dial-rejected    peer sent DIAL_REJECT {reason}; or, without error, we sent it (dialReject())
//   peer-disconnect  peer sent DISCONNECT {reason}
//   disconnect       we called disconnect(reason[, cause]) (socket error, dialer gave up...); error only
//                    if a cause was given
//   idle             nothing sent or received for tcp/udpIdleTimeoutMs; we send DISCONNECT 'idle'
//   protocol         a frame failed to decode (FrameError) or was not allowed in the current state; we
//                    send DISCONNECT with the reason and end the call with an error status
//   version          no common protocol version (handshake)
//   handshake-timeout no OPEN_OK / OPEN within handshakeTimeoutMs
//   transport        the call failed (connection lost, cancelled, error status) or ended without both
//                    CLOSE_SENDs
//   aborted          abort() or the options' AbortSignal
// 'close' is emitted exactly once, `done` resolves with the same StreamEnd and never rejects, and
// `ended` holds it from then on. A stream can end at any time, also before its user attached anything
// (e.g. the connection dies in the same tick as DIAL_OK arrives): endpoints attach with onClosed(),
// which also fires for a stream that has already ended, so they always release their socket.
//
// Back-pressure
//   write() returns false once bufferedBytes (written, not yet taken by the transport) reaches
//   maxBufferedBytes, and 'drain' follows when it falls below. The transport takes a frame only as
//   HTTP/2 flow control allows, so a slow reader holds the writer to the bound. pause() stops reading
//   from the transport, which stops HTTP/2 window updates and so blocks the peer's writer.
//   pause() holds incoming data (up to maxBufferedBytes, then the transport stops reading too). A new
//   stream starts paused: data and CLOSE_SEND wait until resume(), so no event is lost between the
//   handshake and attaching listeners. Control frames (DIAL_*, SESSION, KEEP_ALIVE, DISCONNECT) are
//   handled while paused, unless the hold is full and the transport stopped.
//
// Frames
//   Frames come and go as Frame values (frame.ts) in whatever form their bytes are at hand: write()
//   sends the application's chunk as a DATA frame's data, writeFrame() a frame made elsewhere as it is
//   (read in place from a socket, or received on another stream: splice), and every frame, control or
//   data, goes out through sendFrame(). What the transport makes of a frame is its own business.
import { EventEmitter } from 'node:events';
import type { ChannelHandlers, FrameChannel } from './channel.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameError,
  decodeMessage,
  MessageCode,
  encodeData,
  encodeMessage,
  messageName,
  type Message,
} from './codec.js';
import type { ConnId } from './connid.js';
import { TunnelError } from './errors.js';
import { Frame } from './frame.js';
import { silentLogger, type Logger } from './log.js';

/** What a stream needs of an abort signal: AbortSignal has it, and so has the netstack's ConnectSignal. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: { handleEvent(): void }, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: { handleEvent(): void }): void;
}

export const PROTOCOL_VERSION = 1;
export const MIN_PROTOCOL_VERSION = 1;
const VERSION_RANGE: readonly [number, number] = [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION];

export type EndReason =
  | 'eof'
  | 'dial-rejected'
  | 'peer-disconnect'
  | 'disconnect'
  | 'idle'
  | 'protocol'
  | 'version'
  | 'handshake-timeout'
  | 'transport'
  | 'aborted';

export interface StreamStats {
  /** Payload bytes we wrote (DATA bodies) / received. */
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
  /** Highest bufferedBytes seen: what back-pressure held at most. */
  maxBufferedBytes: number;
  openedAt: number;
  endedAt: number | undefined;
}

export interface StreamEnd {
  reason: EndReason;
  error: TunnelError | undefined;
  stats: Readonly<StreamStats>;
  durationMs: number;
}

export type DialOutcome = { ok: true } | { ok: false; reason: string; message: string };

export interface StreamOptions {
  log?: Logger;
  /** Bound on bytes written and not yet taken by the transport, per direction. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Largest DATA body sent; bigger writes are split. Default 128 KiB. */
  maxChunkBytes?: number;
  /** Largest frame accepted from the peer; bigger ones end the stream ('protocol'). Default 1 MiB + 1. */
  maxFrameBytes?: number;
  /** TCP flows end after this long without any frame in or out (0 = never). Default 5 min. */
  tcpIdleTimeoutMs?: number;
  /** UDP flows end after this long without any frame in or out (0 = never). Default 60 s. */
  udpIdleTimeoutMs?: number;
  /** TCP flows send KEEP_ALIVE when nothing was sent for this long (0 = never). Default 60 s. */
  tcpKeepAliveIntervalMs?: number;
  /** UDP flows send KEEP_ALIVE when nothing was sent for this long (0 = never). Default 0. */
  udpKeepAliveIntervalMs?: number;
  /** How long the handshake may take. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * Acceptor: hold OPEN_OK until this side sends its next frame (DIAL_OK, say) or calls confirmOpen(),
   * so that the two travel together. The opener waits for OPEN_OK up to its handshake timeout.
   */
  deferOpenOk?: boolean;
  /** Aborting it aborts the stream (an AbortSignal, or anything with its `aborted`/`reason`/listeners). */
  signal?: AbortSignalLike;
  now?: () => number;
  /** @internal tests: speak another version range. */
  versionRange?: readonly [min: number, max: number];
}

export interface OpenInit {
  id: ConnId;
  sessionId: string;
  dialTimeoutMs: number;
  roundtripLatencyMs?: number;
}

interface StreamEvents {
  data: [chunk: Buffer];
  /** Peer sent CLOSE_SEND: no more data from it. */
  end: [];
  drain: [];
  dial: [outcome: DialOutcome];
  session: [sessionId: string];
  close: [end: StreamEnd];
}

const DEFAULTS = {
  maxBufferedBytes: 1024 * 1024,
  maxChunkBytes: 128 * 1024,
  tcpIdleTimeoutMs: 5 * 60_000,
  udpIdleTimeoutMs: 60_000,
  tcpKeepAliveIntervalMs: 60_000,
  handshakeTimeoutMs: 10_000,
};

type Phase = 'handshake' | 'open' | 'closed';

/** What arrives in order with the data: a DATA frame, or the peer's CLOSE_SEND after the last one. */
type Received = Frame | 'close-send';

export class TunnelStream extends EventEmitter<StreamEvents> {
  /** Set by the handshake; always present on a stream returned by openStream/acceptStream. */
  id!: ConnId;
  sessionId = '';
  dialTimeoutMs = 0;
  roundtripLatencyMs = 0;
  /** Version agreed in the handshake. */
  version = 0;
  /** Session named by a SESSION frame (agent-originated flows), if any. */
  peerSessionId: string | undefined;
  readonly stats: StreamStats;
  /** Resolves once with how the stream ended. Never rejects. */
  readonly done: Promise<StreamEnd>;
  /** Resolves with DIAL_OK / DIAL_REJECT from the peer, or a rejection-like outcome if the stream ends first. */
  readonly dialed: Promise<DialOutcome>;

  private phase: Phase = 'handshake';
  private sendOpen = true;
  private recvOpen = true;
  private paused = true;
  private channelPaused = false;
  private heldBytes = 0;
  private readonly held: Array<Received> = [];
  /**
   * @internal While a 'data' event is emitted: the received DATA frame its chunk is `data[receivedPiece]`
   * of. splice() forwards the frame as it came (writeReceived); pumpSocket writes its pieces at once.
   */
  received: Frame | undefined;
  /** @internal See `received`. */
  receivedPiece = 0;
  private buffered = 0;
  private needDrain = false;
  private lastActivity: number;
  private lastSend: number;
  /** The idle timeout and keep-alives share one timer (see armTimer). */
  private timer: NodeJS.Timeout | undefined;
  private readonly baseLog: Logger;
  /** Made on first use of `log`: most streams never log more than their end. */
  private childLog: Logger | undefined;
  private resolveDone!: (end: StreamEnd) => void;
  private endedWith: StreamEnd | undefined;
  private resolveDial!: (o: DialOutcome) => void;
  private dialSettled = false;
  private handshake: { resolve: () => void; reject: (e: TunnelError) => void } | undefined;
  private readonly now: () => number;
  private readonly opts: Required<
    Omit<StreamOptions, 'signal' | 'log' | 'now' | 'versionRange' | 'deferOpenOk'>
  > & {
    versionRange: readonly [number, number];
  };
  private readonly signal: AbortSignalLike | undefined;
  private readonly deferOpenOk: boolean;
  /** The OPEN_OK held back (deferOpenOk), sent before the next frame. */
  private pendingOpenOk: Buffer | undefined;

  /** @internal use openStream / acceptStream. */
  constructor(
    private readonly channel: FrameChannel,
    readonly role: 'opener' | 'acceptor',
    options: StreamOptions,
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.baseLog = options.log ?? silentLogger;
    this.opts = {
      maxBufferedBytes: positive(options.maxBufferedBytes, DEFAULTS.maxBufferedBytes, 'maxBufferedBytes'),
      maxChunkBytes: positive(options.maxChunkBytes, DEFAULTS.maxChunkBytes, 'maxChunkBytes'),
      maxFrameBytes: positive(options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 'maxFrameBytes'),
      handshakeTimeoutMs: positive(
        options.handshakeTimeoutMs,
        DEFAULTS.handshakeTimeoutMs,
        'handshakeTimeoutMs',
      ),
      tcpIdleTimeoutMs: nonNegative(options.tcpIdleTimeoutMs, DEFAULTS.tcpIdleTimeoutMs, 'tcpIdleTimeoutMs'),
      udpIdleTimeoutMs: nonNegative(options.udpIdleTimeoutMs, DEFAULTS.udpIdleTimeoutMs, 'udpIdleTimeoutMs'),
      tcpKeepAliveIntervalMs: nonNegative(
        options.tcpKeepAliveIntervalMs,
        DEFAULTS.tcpKeepAliveIntervalMs,
        'tcpKeepAliveIntervalMs',
      ),
      udpKeepAliveIntervalMs: nonNegative(options.udpKeepAliveIntervalMs, 0, 'udpKeepAliveIntervalMs'),
      versionRange: options.versionRange ?? VERSION_RANGE,
    };
    this.lastActivity = this.lastSend = this.now();
    this.stats = {
      bytesSent: 0,
      bytesReceived: 0,
      framesSent: 0,
      framesReceived: 0,
      maxBufferedBytes: 0,
      openedAt: this.lastActivity,
      endedAt: undefined,
    };
    this.done = new Promise((r) => (this.resolveDone = r));
    this.dialed = new Promise((r) => (this.resolveDial = r));
    const signal = options.signal;
    this.signal = signal;
    this.deferOpenOk = options.deferOpenOk === true;
    if (signal !== undefined) {
      if (signal.aborted) queueMicrotask(() => this.handleEvent());
      else signal.addEventListener('abort', this, { once: true });
    }
    channel.start(new TunnelStream.ChannelEvents(this));
  }

  /** What the channel reports, as one object rather than a closure per handler (thousands of streams). */
  private static readonly ChannelEvents = class implements ChannelHandlers {
    constructor(private readonly stream: TunnelStream) {}
    frame(frame: Frame): void {
      this.stream.onFrame(frame);
    }
    end(): void {
      this.stream.onChannelEnd();
    }
    error(err: TunnelError): void {
      this.stream.finish('transport', err, 'none');
    }
  };

  /** @internal The options' AbortSignal fired (the stream is its listener object: no closure). */
  handleEvent(): void {
    this.abort(
      new TunnelError('aborted', 'stream aborted by the caller', 'aborted', { cause: this.signal?.reason }),
    );
  }

  /** This stream's logger: the options' logger with the conn id once the handshake named it. */
  get log(): Logger {
    if (this.id === undefined) return this.baseLog;
    return (this.childLog ??= this.baseLog.child({ connId: String(this.id) }));
  }

  /** Logs with the conn id without making a child logger for it (see `log`). */
  private logLine(level: 'debug' | 'info', fields: Record<string, unknown>, message: string): void {
    if (this.baseLog.isLevelEnabled?.(level) === false) return; // every flow's end: skip the work
    if (this.childLog !== undefined) this.childLog[level](fields, message);
    else if (this.id === undefined) this.baseLog[level](fields, message);
    else this.baseLog[level]({ connId: String(this.id), ...fields }, message);
  }

  /** Largest DATA body per frame; bigger writes are split. */
  get maxChunkBytes(): number {
    return this.opts.maxChunkBytes;
  }

  /** The configured bound on bufferedBytes. */
  get maxBufferedBytes(): number {
    return this.opts.maxBufferedBytes;
  }

  /** Bytes written and not yet taken by the transport. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** How the stream ended (what 'close' and `done` carry), once it has; undefined while it is open. */
  get ended(): StreamEnd | undefined {
    return this.endedWith;
  }

  /**
   * Calls `listener` once with how the stream ended: when it closes, or at once if it already has.
   * Use this (not `once('close')`) for cleanup that must not be missed, such as closing a socket.
   * Returns a function that unregisters the listener (a no-op once it has been called).
   */
  onClosed(listener: (end: StreamEnd) => void): () => void {
    if (this.endedWith !== undefined) {
      listener(this.endedWith);
      return () => {};
    }
    this.once('close', listener);
    return () => this.off('close', listener);
  }

  /** True while we may still write data (not ended, not closed). */
  get writable(): boolean {
    return this.phase === 'open' && this.sendOpen;
  }

  /**
   * Queues data for the peer. Returns false when the buffered bytes reached the bound: stop writing
   * until 'drain'. Data written after the stream closed is dropped (the 'close' event says why).
   * As with Node's writable streams, `chunk` is not copied on every transport: do not change it after.
   */
  write(chunk: Uint8Array): boolean {
    if (this.phase === 'closed') return true;
    if (this.phase !== 'open' || !this.sendOpen) {
      throw new TunnelError(
        'local',
        `write ${this.sendOpen ? 'before the handshake' : 'after end()'} on ${String(this.id)}`,
      );
    }
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const max = this.opts.maxChunkBytes;
    for (let off = 0; off < data.length; off += max) {
      const piece =
        off === 0 && data.length <= max ? data : data.subarray(off, Math.min(off + max, data.length));
      this.stats.bytesSent += piece.length;
      this.sendFrame(Frame.data(piece), piece.length + 1, true);
    }
    if (data.length === 0) this.sendControl(encodeData(data), true); // an empty datagram
    return this.checkBuffered();
  }

  /**
   * @internal write() for a DATA frame that is already made (read in place from a socket, or received
   * on another stream): it goes out as it is instead of being encoded again.
   */
  writeFrame(frame: Frame): boolean {
    if (frame.dataBytes > this.opts.maxChunkBytes || this.phase !== 'open' || !this.sendOpen) {
      let ok = true;
      for (const piece of frame.data) ok = this.write(piece);
      return ok;
    }
    this.stats.bytesSent += frame.dataBytes;
    this.sendFrame(frame, frame.dataBytes + 1, true);
    return this.checkBuffered();
  }

  /**
   * @internal write(chunk) for the data of a 'data' event of `from` (splice): the DATA frame it came in
   * goes out as it came, once, with the frame's first piece.
   */
  writeReceived(chunk: Buffer, from: TunnelStream): boolean {
    const frame = from.received;
    if (frame === undefined) return this.write(chunk);
    return from.receivedPiece === 0 ? this.writeFrame(frame) : !this.needDrain;
  }

  private checkBuffered(): boolean {
    if (this.buffered >= this.opts.maxBufferedBytes) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Half-close: sends CLOSE_SEND. Reading goes on until the peer half-closes too. Idempotent. */
  end(): void {
    if (this.phase !== 'open' || !this.sendOpen) return;
    this.sendOpen = false;
    this.sendControl(encodeMessage({ type: 'close-send' }));
    if (!this.recvOpen) this.finish('eof', undefined, 'close');
  }

  /** Acceptor with deferOpenOk: sends the OPEN_OK held back, now (a no-op otherwise). */
  confirmOpen(): void {
    const openOk = this.pendingOpenOk;
    if (openOk === undefined || this.phase === 'closed') return;
    this.pendingOpenOk = undefined;
    this.sendControl(openOk);
  }

  /** Dialer side: the destination answered. */
  dialOk(): void {
    if (this.phase === 'open') this.sendControl(encodeMessage({ type: 'dial-ok' }));
  }

  /** Dialer side: the destination could not be reached; ends the stream ('dial-rejected', no error). */
  dialReject(reason: string, message: string): void {
    if (this.phase !== 'open') return;
    this.sendControl(encodeMessage({ type: 'dial-reject', reason, message: message.slice(0, 512) }));
    this.finish('dial-rejected', undefined, 'close');
  }

  /** Agent side of an inbound flow: names the client session the manager should connect it to. */
  sendSession(sessionId: string): void {
    if (this.phase === 'open') this.sendControl(encodeMessage({ type: 'session', sessionId }));
  }

  /** Hard close: sends DISCONNECT {reason} and ends the call. With a cause the end carries an error. */
  disconnect(reason: string, cause?: unknown): void {
    if (this.phase === 'closed') return;
    const error = cause === undefined ? undefined : TunnelError.from(cause, 'local');
    if (this.phase === 'open')
      this.sendControl(encodeMessage({ type: 'disconnect', reason: reason.slice(0, 512) }));
    this.finish('disconnect', error, 'close');
  }

  /** Ends the call at once with an error status; nothing more is sent. */
  abort(error: TunnelError = new TunnelError('aborted', 'stream aborted')): void {
    this.finish(error.code === 'aborted' ? 'aborted' : 'transport', error, 'abort');
  }

  /**
   * Stops delivering data. Data that keeps arriving is held, up to maxBufferedBytes; beyond that the
   * transport stops reading too (back-pressure towards the peer). Control frames keep flowing until then.
   */
  pause(): void {
    this.paused = true;
  }

  /** Delivers held data and resumes reading. A new stream starts paused: call this after attaching listeners. */
  resume(): void {
    if (!this.paused || this.phase === 'closed') return;
    this.paused = false;
    while (!this.paused && this.held.length > 0 && !this.closed) {
      const next = this.held.shift()!;
      if (next !== 'close-send') this.heldBytes -= next.dataBytes;
      this.deliver(next);
    }
    if (!this.paused && this.channelPaused) {
      this.channelPaused = false;
      this.channel.resume();
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Sends a control frame (or an empty DATA frame: isData). */
  private sendControl(bytes: Buffer, isData = false): void {
    this.sendFrame(Frame.of(bytes), bytes.length, isData);
  }

  /** The one way a frame goes out: its len bytes count as buffered until the transport takes it. */
  private sendFrame(frame: Frame, len: number, isData: boolean): void {
    if (this.pendingOpenOk !== undefined) this.confirmOpen();
    this.buffered += len;
    if (this.buffered > this.stats.maxBufferedBytes) this.stats.maxBufferedBytes = this.buffered;
    this.stats.framesSent++;
    this.lastSend = this.now();
    if (isData) this.lastActivity = this.lastSend;
    this.channel.send(frame, () => {
      this.buffered -= len;
      if (this.needDrain && this.buffered < this.opts.maxBufferedBytes) {
        this.needDrain = false;
        if (this.phase !== 'closed') this.emit('drain');
      }
    });
  }

  private onFrame(frame: Frame): void {
    if (this.phase === 'closed') return;
    const bytes = frame.bytes;
    if (bytes === undefined) {
      this.onDataPieces(frame);
      return;
    }
    this.stats.framesReceived++;
    this.lastActivity = this.now();
    if (bytes[0] === MessageCode.DATA && this.phase === 'open' && bytes.length <= this.opts.maxFrameBytes) {
      this.onData(frame);
      return;
    }
    let msg: Message;
    try {
      msg = decodeMessage(bytes, this.opts.maxFrameBytes);
    } catch (e: unknown) {
      if (e instanceof FrameError) {
        this.protocolError(`bad frame: ${e.message}`, e);
        return;
      }
      throw e;
    }
    if (this.phase === 'handshake') {
      this.onHandshakeMessage(msg);
      return;
    }
    switch (msg.type) {
      case 'data':
        this.onData(frame);
        return;
      case 'close-send':
        this.onData('close-send');
        return;
      case 'keep-alive':
        return;
      case 'dial-ok':
        this.settleDial({ ok: true });
        return;
      case 'dial-reject': {
        this.settleDial({ ok: false, reason: msg.reason, message: msg.message });
        const err = new TunnelError(
          'dial-rejected',
          `dial ${String(this.id)} rejected: ${msg.reason}: ${msg.message}`,
          msg.reason,
        );
        this.finish('dial-rejected', err, 'close');
        return;
      }
      case 'disconnect':
        this.finish(
          'peer-disconnect',
          new TunnelError('peer-disconnect', `peer disconnected: ${msg.reason}`, msg.reason),
          'close',
        );
        return;
      case 'session':
        this.peerSessionId = msg.sessionId;
        this.emit('session', msg.sessionId);
        return;
      case 'open':
      case 'open-ok':
        this.protocolError(`unexpected ${messageName(msg.type)} after the handshake`);
        return;
    }
  }

  /** A DATA frame that arrived in pieces (see Frame): passed on without joining. */
  private onDataPieces(frame: Frame): void {
    // Datagrams keep their boundaries; anything unusual takes the checked path with the whole frame.
    if (this.phase !== 'open' || this.id.protocol !== 'tcp' || frame.dataBytes >= this.opts.maxFrameBytes) {
      this.onFrame(Frame.of(frame.joined()));
      return;
    }
    this.stats.framesReceived++;
    this.lastActivity = this.now();
    this.onData(frame);
  }

  private onData(msg: Received): void {
    if (!this.recvOpen) {
      this.protocolError(`${messageName(msg === 'close-send' ? msg : 'data')} after CLOSE_SEND`);
      return;
    }
    if (msg === 'close-send') this.recvOpen = false; // no more data may follow, held or not
    if (this.paused || this.held.length > 0) {
      this.held.push(msg);
      if (msg !== 'close-send') this.heldBytes += msg.dataBytes;
      if (this.heldBytes >= this.opts.maxBufferedBytes && !this.channelPaused) {
        this.channelPaused = true;
        this.channel.pause();
      }
    } else this.deliver(msg);
  }

  private deliver(msg: Received): void {
    if (msg !== 'close-send') {
      this.stats.bytesReceived += msg.dataBytes;
      const { data } = msg;
      try {
        for (let i = 0; i < data.length; i++) {
          this.received = msg;
          this.receivedPiece = i;
          this.emit('data', data[i]!);
        }
      } finally {
        this.received = undefined;
      }
      return;
    }
    this.emit('end');
    if (!this.sendOpen && this.phase === 'open') this.finish('eof', undefined, 'close');
  }

  private onChannelEnd(): void {
    if (this.phase === 'closed') return;
    // Clean only if the peer half-closed (or hard-closed, handled in onFrame) before ending the call.
    if (this.phase === 'open' && !this.recvOpen) {
      // Peer finished; anything held is still delivered by resume(). If we are still writing, the peer
      // can no longer read: that is a transport-level end.
      if (!this.sendOpen) return;
    }
    const why = this.phase === 'handshake' ? 'during the handshake' : 'without CLOSE_SEND or DISCONNECT';
    this.finish(
      'transport',
      new TunnelError('transport', `tunnel call ended by the peer ${why}`, 'EOF'),
      'none',
    );
  }

  private protocolError(message: string, cause?: unknown): void {
    const err = new TunnelError(
      'protocol',
      `tunnel protocol error on ${this.id === undefined ? 'new stream' : String(this.id)}: ${message}`,
      'protocol',
      { cause },
    );
    if (this.phase !== 'closed')
      this.sendControl(encodeMessage({ type: 'disconnect', reason: err.message.slice(0, 512) }));
    this.finish('protocol', err, 'abort');
  }

  private settleDial(o: DialOutcome, fromPeer = true): void {
    if (this.dialSettled) return;
    this.dialSettled = true;
    this.resolveDial(o);
    if (fromPeer) this.emit('dial', o);
  }

  /** @internal The one place a stream ends. */
  finish(reason: EndReason, error: TunnelError | undefined, channelAction: 'close' | 'abort' | 'none'): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this);
    this.stats.endedAt = this.now();
    if (channelAction === 'close') this.channel.close();
    else if (channelAction === 'abort')
      this.channel.abort(error ?? new TunnelError('aborted', 'stream aborted'));
    else this.channel.close(); // already over at the transport; make sure our side is released
    const hs = this.handshake;
    this.handshake = undefined;
    hs?.reject(error ?? new TunnelError('transport', `stream closed during the handshake (${reason})`));
    this.settleDial(
      { ok: false, reason: error?.reason ?? reason, message: error?.message ?? `stream ended (${reason})` },
      false,
    );
    const end: StreamEnd = {
      reason,
      error,
      stats: { ...this.stats },
      durationMs: this.stats.endedAt - this.stats.openedAt,
    };
    const fields = {
      reason,
      sent: this.stats.bytesSent,
      received: this.stats.bytesReceived,
      durationMs: end.durationMs,
      ...(error === undefined ? {} : { error: error.message }),
    };
    if (
      error === undefined ||
      reason === 'dial-rejected' ||
      reason === 'peer-disconnect' ||
      reason === 'idle'
    )
      this.logLine('debug', fields, 'stream end');
    else this.logLine('info', fields, 'stream end');
    this.held.length = 0;
    this.endedWith = end;
    // Settled before the listeners run, so a throwing 'close' listener cannot leave `done` pending.
    this.resolveDone(end);
    this.emit('close', end);
  }

  /** @internal Sends OPEN; resolves when OPEN_OK arrives (the check runs synchronously on receipt). */
  handshakeAsOpener(init: OpenInit): Promise<void> {
    const [minVersion, version] = this.opts.versionRange;
    this.adopt(init.id, init.sessionId, init.dialTimeoutMs, init.roundtripLatencyMs ?? 0);
    const done = this.awaitHandshake('OPEN_OK');
    this.sendControl(
      encodeMessage({
        type: 'open',
        version,
        minVersion,
        id: init.id,
        sessionId: init.sessionId,
        dialTimeoutMs: init.dialTimeoutMs,
        roundtripLatencyMs: init.roundtripLatencyMs ?? 0,
      }),
    );
    return done;
  }

  /** @internal Resolves once a valid OPEN arrived and OPEN_OK was sent. */
  handshakeAsAcceptor(): Promise<void> {
    return this.awaitHandshake('OPEN');
  }

  private onHandshakeMessage(msg: Message): void {
    if (this.role === 'opener') {
      if (msg.type !== 'open-ok') {
        this.protocolError(`expected OPEN_OK, got ${messageName(msg.type)}`);
        return;
      }
      const [minVersion, version] = this.opts.versionRange;
      if (msg.version < minVersion || msg.version > version) {
        const err = new TunnelError(
          'version',
          `peer speaks tunnel protocol version ${msg.version}, this side speaks ${minVersion}..${version}: upgrade the older side`,
          'version',
        );
        this.finish('version', err, 'close');
        return;
      }
      this.version = msg.version;
      this.startOpen();
      return;
    }
    if (msg.type !== 'open') {
      this.protocolError(`first message must be OPEN, got ${messageName(msg.type)}`);
      return;
    }
    this.adopt(msg.id, msg.sessionId, msg.dialTimeoutMs, msg.roundtripLatencyMs);
    const [myMin, myMax] = this.opts.versionRange;
    const chosen = Math.min(msg.version, myMax);
    if (chosen < Math.max(msg.minVersion, myMin) || msg.minVersion > msg.version) {
      const err = new TunnelError(
        'version',
        `peer speaks tunnel protocol versions ${msg.minVersion}..${msg.version}, this side speaks ${myMin}..${myMax}: upgrade the older side`,
        'version',
      );
      // An out-of-range answer makes the opener fail with its own clear message; DISCONNECT says why.
      this.sendControl(encodeMessage({ type: 'open-ok', version: msg.version < myMin ? myMin : myMax }));
      this.sendControl(encodeMessage({ type: 'disconnect', reason: err.message.slice(0, 512) }));
      this.finish('version', err, 'close');
      return;
    }
    this.version = chosen;
    const openOk = encodeMessage({ type: 'open-ok', version: chosen });
    if (this.deferOpenOk) this.pendingOpenOk = openOk;
    else this.sendControl(openOk);
    this.startOpen();
  }

  private adopt(id: ConnId, sessionId: string, dialTimeoutMs: number, roundtripLatencyMs: number): void {
    this.id = id;
    this.sessionId = sessionId;
    this.dialTimeoutMs = dialTimeoutMs;
    this.roundtripLatencyMs = roundtripLatencyMs;
    this.childLog = undefined;
  }

  private awaitHandshake(expected: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new TunnelError(
          'handshake-timeout',
          `no ${expected} from the peer within ${this.opts.handshakeTimeoutMs} ms`,
        );
        this.finish('handshake-timeout', err, 'abort');
      }, this.opts.handshakeTimeoutMs);
      timer.unref();
      this.handshake = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  private startOpen(): void {
    this.phase = 'open';
    this.lastActivity = this.now();
    this.armTimer();
    this.logLine('debug', { version: this.version, role: this.role, session: this.sessionId }, 'stream open');
    const hs = this.handshake;
    this.handshake = undefined;
    hs?.resolve();
  }

  /** The idle timeout and the keep-alive interval of this stream's protocol (0 = none). */
  private timeouts(): { idle: number; keepAlive: number } {
    return this.id.protocol === 'udp'
      ? { idle: this.opts.udpIdleTimeoutMs, keepAlive: this.opts.udpKeepAliveIntervalMs }
      : { idle: this.opts.tcpIdleTimeoutMs, keepAlive: this.opts.tcpKeepAliveIntervalMs };
  }

  /**
   * One timer for both the idle timeout and the keep-alives, due at whichever comes first and re-armed
   * lazily when it fires: per-frame work is a timestamp write, not a timer reset.
   */
  private armTimer(): void {
    const { idle, keepAlive } = this.timeouts();
    let due = Infinity;
    if (idle > 0) due = this.lastActivity + idle;
    if (keepAlive > 0) due = Math.min(due, this.lastSend + keepAlive);
    if (due === Infinity) return;
    this.timer = setTimeout(TunnelStream.onTimer, Math.max(due - this.now(), 1), this);
    this.timer.unref();
  }

  /** Static, with the stream as the timer's argument: no closure per stream. */
  private static onTimer(this: void, stream: TunnelStream): void {
    if (stream.phase === 'closed') return;
    const { idle, keepAlive } = stream.timeouts();
    const now = stream.now();
    if (idle > 0 && now - stream.lastActivity >= idle) {
      const err = new TunnelError('idle', `no traffic for ${idle} ms`, 'idle');
      stream.sendControl(encodeMessage({ type: 'disconnect', reason: 'idle' }));
      stream.finish('idle', err, 'close');
      return;
    }
    if (keepAlive > 0 && now - stream.lastSend >= keepAlive * 0.9)
      stream.sendControl(encodeMessage({ type: 'keep-alive' }));
    stream.armTimer();
  }
}

function nonNegative(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a number >= 0, got ${v}`);
  return v;
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return v;
}

/**
 * Opens a flow: sends OPEN and waits for OPEN_OK. Rejects with a TunnelError ('version',
 * 'handshake-timeout', 'protocol', 'transport', 'aborted') if the handshake fails; the channel is then
 * closed. The returned stream is paused: attach listeners, then resume().
 */
export async function openStream(
  channel: FrameChannel,
  init: OpenInit,
  options: StreamOptions = {},
): Promise<TunnelStream> {
  const stream = new TunnelStream(channel, 'opener', options);
  await stream.handshakeAsOpener(init);
  return stream;
}

/**
 * Accepts a flow: requires OPEN as the first frame and answers OPEN_OK. Rejects with a TunnelError
 * when the first frame is not a valid OPEN, the versions do not match, or nothing arrives in time.
 */
export async function acceptStream(
  channel: FrameChannel,
  options: StreamOptions = {},
): Promise<TunnelStream> {
  const stream = new TunnelStream(channel, 'acceptor', options);
  await stream.handshakeAsAcceptor();
  return stream;
}
