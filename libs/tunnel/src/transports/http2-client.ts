// The client side of Tunnel calls on a node:http2 connection of their own (see http2-channel.ts for
// why not grpc-js). One connection carries every flow; it is made on first use and again after it
// closed, went away (GOAWAY) or missed a keep-alive, so a restarted manager is reached by the next flow.
// A connection that could not be made is not tried again before a backoff (200 ms doubling to 5 s, 20 %
// jitter):
// meanwhile new flows fail at once with its error, instead of each making a port-forward of its own.
//
// Making an HTTP/2 request costs node:http2 more than anything else in a new flow, on both ends (issue
// 15: a fifth of the client's time from SYN to OPEN). So once a call has its first answer the client
// makes one request ahead, a spare, for the next flow, which then only sends its OPEN as the first DATA
// message; the server still answers in headers (ANSWERS_HEADER). A spare not used within SPARE_TTL_MS
// is cancelled (servers end calls with no OPEN after 10 s), and none is made again until the next call:
// an idle client holds none.
//
// Cheaper still is no new request at all: a call whose flow ended cleanly is parked for the next flow,
// when the server offers that (call-reuse.ts). A new flow takes the most recently parked call first, then
// the spare, then makes a request.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Backoff } from '../backoff.js';
import type { FrameChannel } from '../protocol/channel.js';
import { TunnelError, socketErrorCode } from '../protocol/errors.js';
import { BdpWindow } from './bdp.js';
import { ANSWERS_HEADER, ANSWERS_IN_HEADERS, TRAILER_FRAMES_HEADER } from './handshake-headers.js';
import { DeferredEnds } from './deferred-ends.js';
import { DEFAULT_MAX_MESSAGE_BYTES, http2ClientChannel } from './http2-channel.js';
import { CLIENT_REUSE_MAX_AGE_MS, MAX_PARKED_CALLS, REUSE_HEADER, type Recycle } from './call-reuse.js';
import { http2RequestChannel } from './http2-request-channel.js';
import {
  TUNNEL_CONNECTION_WINDOW_BYTES,
  TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
  TUNNEL_SESSION_MEMORY_MB,
  TUNNEL_STREAM_WINDOW_BYTES,
  checkedWindow,
} from './flow-control.js';

/** The Manager service's Tunnel method, as grpc-js names it on the wire. */
export const MANAGER_TUNNEL_PATH = '/telepresence.manager.v1.Manager/Tunnel';

/** How long a spare request waits for a flow before it is cancelled. */
export const SPARE_TTL_MS = 5_000;
/**
 * A spare's OPEN goes as DATA, which waits for the connection's send window: while bulk data has used
 * most of it, a new flow makes its own request instead, with its OPEN in the headers (never held back).
 */
export const SPARE_MIN_SEND_WINDOW = 16 * 1024;

interface Spare {
  readonly stream: ClientHttp2Stream;
  readonly session: ClientHttp2Session;
  readonly expiry: NodeJS.Timeout;
}

/** A call whose flow ended, kept for the next flow (call-reuse.ts). */
interface ParkedCall {
  readonly stream: ClientHttp2Stream;
  readonly next: () => FrameChannel;
  readonly authorization: string | undefined;
  readonly madeAt: number;
  readonly expiry: NodeJS.Timeout;
  readonly gone: () => void;
}

/** When a call was made and with which credentials, so that it is reused only while they hold. */
const MADE = Symbol('made');
type MadeStream = ClientHttp2Stream & { [MADE]?: { at: number; authorization: string | undefined } };

function ignore(): void {}

export interface Http2TunnelClientOptions {
  /** Method path. Default MANAGER_TUNNEL_PATH. */
  path?: string;
  /** Extra request headers of every call, asked per call (e.g. `authorization` with a rotating token). */
  headers?: () => Record<string, string>;
  /**
   * A byte stream to the server to use instead of a TCP connection to the address (e.g. a Kubernetes
   * port-forward): it emits 'connect' once usable, or 'error' if it cannot be made.
   */
  connection?: () => Duplex;
  /** TLS to the server, verified with this CA (PEM) for this name; plain HTTP/2 when absent. */
  tls?: { ca: string; servername: string };
  /** Receive window per flow (the memory a paused flow may hold here). Default 2 MiB. */
  streamWindowBytes?: number;
  /**
   * Largest receive window of the connection (in flight per round trip for all flows). Default 16 MiB.
   * It starts at initialConnectionWindowBytes and grows by BDP estimation (bdp.ts).
   */
  connectionWindowBytes?: number;
  /** Default TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES (at most connectionWindowBytes). */
  initialConnectionWindowBytes?: number;
  /** PING interval; a connection that does not answer within keepAliveTimeoutMs is dropped. 0 = none. */
  keepAliveMs?: number;
  keepAliveTimeoutMs?: number;
  maxMessageBytes?: number;
  /** How long a request made ahead for the next flow waits for it. Default SPARE_TTL_MS. */
  spareTtlMs?: number;
  /** Backoff after a failed connection attempt: first and longest. Default 200 ms and 5 s. */
  reconnectBackoffMs?: { initial: number; max: number };
  now?: () => number;
  /** The backoff's jitter source (tests: () => 0.5 for none). */
  random?: () => number;
}

/** Anything that opens tunnel calls as FrameChannels (see openTunnel). */
export interface TunnelChannelOpener {
  openChannel(): FrameChannel;
}

export class Http2TunnelClient implements TunnelChannelOpener {
  private session: ClientHttp2Session | undefined;
  private closed = false;
  private readonly path: string;
  private readonly headers: (() => Record<string, string>) | undefined;
  private readonly tls: { ca: string; servername: string } | undefined;
  private readonly makeConnection: (() => Duplex) | undefined;
  /** Settles when the current connection's byte stream is up (or failed to come up). */
  private ready: Promise<void> = Promise.resolve();
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  private readonly initialConnectionWindow: number;
  private readonly keepAliveMs: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly spareTtlMs: number;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  /** The last connection attempt that failed before connecting, while its backoff runs. */
  private failed: { until: number; error: Error } | undefined;
  /** The request made ahead for the next flow, if any. */
  private spare: Spare | undefined;
  private spareScheduled = false;
  /** Calls parked for the next flows, most recent last. */
  private readonly parked: ParkedCall[] = [];
  private readonly recycleOf =
    (stream: ClientHttp2Stream): Recycle =>
    (next) =>
      this.park(stream, next);
  /** Connections made (attempts, successful or not): for logs and tests. */
  connectionAttempts = 0;
  /** Calls that went out on a spare request: for tests. */
  sparesUsed = 0;
  /** Flows that went out on a call of an earlier flow: for tests and logs. */
  callsReused = 0;

  /** Calls parked for the next flows now: for tests. */
  get parkedCalls(): number {
    return this.parked.length;
  }

  /** `address` is host:port as for grpc-js (`[::1]:8081` for IPv6). */
  constructor(
    private readonly address: string,
    options: Http2TunnelClientOptions = {},
  ) {
    this.path = options.path ?? MANAGER_TUNNEL_PATH;
    this.headers = options.headers;
    this.tls = options.tls;
    this.makeConnection = options.connection;
    this.streamWindow = checkedWindow(
      options.streamWindowBytes ?? TUNNEL_STREAM_WINDOW_BYTES,
      'streamWindowBytes',
    );
    this.connectionWindow = checkedWindow(
      options.connectionWindowBytes ?? TUNNEL_CONNECTION_WINDOW_BYTES,
      'connectionWindowBytes',
    );
    this.initialConnectionWindow = checkedWindow(
      options.initialConnectionWindowBytes ?? TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
      'initialConnectionWindowBytes',
    );
    this.keepAliveMs = options.keepAliveMs ?? 10_000;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 5_000;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.spareTtlMs = options.spareTtlMs ?? SPARE_TTL_MS;
    const backoffMs = options.reconnectBackoffMs ?? { initial: 200, max: 5_000 };
    this.backoff = new Backoff({
      initialMs: backoffMs.initial,
      maxMs: backoffMs.max,
      multiplier: 2,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    this.now = options.now ?? Date.now;
  }

  /**
   * Starts a Tunnel call (its request goes out with the first frame, an OPEN in its headers). Throws a
   * TunnelError after close() or while a failed connection's backoff runs.
   */
  openChannel(): FrameChannel {
    if (this.closed) throw new TunnelError('transport', `the tunnel client for ${this.address} is closed`);
    const session = this.connection();
    DeferredEnds.flush(session); // ended calls' END_STREAMs go in the same write as this call's first frame
    const headers = this.headers?.(); // asked once per flow (a token provider may do work)
    const parked = this.takeParked(session, headers?.['authorization']);
    if (parked !== undefined) {
      this.callsReused++;
      return parked.next();
    }
    const spare = this.takeSpare(session, headers?.['authorization']);
    if (spare !== undefined) {
      this.sparesUsed++;
      return http2ClientChannel(this.spareAfterAnswer(spare), this.maxMessageBytes, this.recycleOf(spare));
    }
    return http2RequestChannel(
      (extra) => this.spareAfterAnswer(this.request(session, extra, headers)),
      this.maxMessageBytes,
      this.recycleOf,
    );
  }

  /**
   * A call whose flow ended cleanly: parked for the next flow if it is on the current connection, young
   * enough, and there is room; otherwise its side ends (with the next frame) and the server ends it.
   */
  private park(stream: ClientHttp2Stream, next: () => FrameChannel): void {
    const made = (stream as MadeStream)[MADE];
    if (
      this.closed ||
      made === undefined ||
      stream.session !== this.session ||
      this.parked.length >= MAX_PARKED_CALLS ||
      this.now() - made.at >= CLIENT_REUSE_MAX_AGE_MS
    ) {
      if (!stream.destroyed && !stream.writableEnded) DeferredEnds.end(stream);
      return;
    }
    const call: ParkedCall = {
      stream,
      next,
      authorization: made.authorization,
      madeAt: made.at,
      expiry: setTimeout(() => this.unpark(call, true), this.spareTtlMs),
      gone: () => this.unpark(call, false),
    };
    call.expiry.unref();
    stream.once('close', call.gone); // the server ended it, or the connection went
    this.parked.push(call);
  }

  /** Takes `call` out of the parked ones; `cancel` also ends it (the server drops its wait at once). */
  private unpark(call: ParkedCall, cancel: boolean): void {
    const i = this.parked.indexOf(call);
    if (i >= 0) this.parked.splice(i, 1);
    clearTimeout(call.expiry);
    call.stream.off('close', call.gone);
    if (cancel && !call.stream.closed) call.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /**
   * The most recently parked call that can take a flow now: on this connection, still open, made with
   * the credentials a new call would carry, young enough. None while the send window is low (as spares).
   */
  private takeParked(session: ClientHttp2Session, authorization: string | undefined): ParkedCall | undefined {
    if (this.parked.length === 0) return undefined;
    if (session.state.remoteWindowSize! < SPARE_MIN_SEND_WINDOW) return undefined;
    const now = this.now();
    for (let call = this.parked.pop(); call !== undefined; call = this.parked.pop()) {
      const s = call.stream;
      const usable =
        s.session === session &&
        !s.closed &&
        !s.readableEnded &&
        call.authorization === authorization &&
        now - call.madeAt < CLIENT_REUSE_MAX_AGE_MS;
      this.unpark(call, !usable);
      if (usable) return call;
    }
    return undefined;
  }

  private dropParked(): void {
    for (const call of [...this.parked]) this.unpark(call, true);
  }

  /**
   * The next flow's spare is made once this call has its first answer (OPEN_OK, or with it DIAL_OK), and
   * that answer's own work is done: made at once, its HEADERS reached the server while it dialed for this
   * call and were handled before its answer (issue 15: the manager's answer went out 0.15-0.2 ms later).
   * A call that is never answered leaves the next flow to make its own request.
   */
  private spareAfterAnswer(stream: ClientHttp2Stream): ClientHttp2Stream {
    const answered = (): void => {
      stream.off('headers', answered);
      stream.off('response', answered);
      // This listener runs before the channel's: one turn later, after what the answer lets out
      // (e.g. the SYN-ACK, written at the end of this turn), the spare is made at the end of that turn.
      setImmediate(() => this.scheduleSpare());
    };
    stream.on('headers', answered); // 103: OPEN_OK ahead of the dial's answer
    stream.on('response', answered);
    return stream;
  }

  private request(
    session: ClientHttp2Session,
    extra: OutgoingHttpHeaders,
    headers = this.headers?.(),
  ): ClientHttp2Stream {
    const stream: MadeStream = session.request({
      ':method': 'POST',
      ':path': this.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      [TRAILER_FRAMES_HEADER]: '1', // we read frames in trailers (handshake-headers.ts)
      [REUSE_HEADER]: '1', // we run more flows on a call (call-reuse.ts)
      ...headers,
      ...extra,
    });
    stream[MADE] = { at: this.now(), authorization: headers?.['authorization'] };
    return stream;
  }

  /**
   * The spare request, if it is on this connection, still open, made with the credentials a new request
   * would carry, and its OPEN would not wait (see above).
   */
  private takeSpare(
    session: ClientHttp2Session,
    authorization: string | undefined,
  ): ClientHttp2Stream | undefined {
    const spare = this.spare;
    if (spare === undefined) return undefined;
    const made = (spare.stream as MadeStream)[MADE];
    if (
      spare.session !== session ||
      spare.stream.closed ||
      spare.stream.destroyed ||
      made?.authorization !== authorization
    ) {
      this.dropSpare();
      return undefined;
    }
    if (session.state.remoteWindowSize! < SPARE_MIN_SEND_WINDOW) return undefined;
    this.spare = undefined;
    clearTimeout(spare.expiry);
    return spare.stream;
  }

  /** Makes a spare request at the end of this turn of the event loop, unless there is one. */
  private scheduleSpare(): void {
    if (this.spareScheduled || this.spare !== undefined) return;
    this.spareScheduled = true;
    setImmediate(() => {
      this.spareScheduled = false;
      const session = this.session;
      if (this.closed || this.spare !== undefined || session === undefined) return;
      if (session.closed || session.destroyed) return; // one still connecting sends it once connected
      let stream: ClientHttp2Stream;
      try {
        stream = this.request(session, { [ANSWERS_HEADER]: ANSWERS_IN_HEADERS });
      } catch {
        return; // the session is going away: the next flow finds out
      }
      stream.on('error', ignore); // a spare that fails is dropped; its flow's channel reports its own errors
      // Closed: also a refusal before any OPEN (node:http2 resets a stream it answered in full).
      stream.once('close', () => {
        if (this.spare?.stream === stream) this.dropSpare();
      });
      const expiry = setTimeout(() => {
        if (this.spare?.stream === stream) this.dropSpare();
      }, this.spareTtlMs);
      expiry.unref();
      this.spare = { stream, session, expiry };
    });
  }

  private dropSpare(): void {
    const spare = this.spare;
    this.spare = undefined;
    if (spare === undefined) return;
    clearTimeout(spare.expiry);
    if (!spare.stream.closed) spare.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /**
   * Makes the connection now, so that the first flow does not wait for it (through a port-forward: a
   * WebSocket and an HTTP/2 handshake); resolves once it is up, rejects with why it is not.
   */
  connect(): Promise<void> {
    if (this.closed)
      return Promise.reject(new TunnelError('transport', `the tunnel client for ${this.address} is closed`));
    try {
      this.connection();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.ready; // the session is set up on the socket's connect, in the same tick
  }

  /** Closes the connection after its calls end; new calls fail. */
  close(): void {
    this.closed = true;
    this.dropSpare();
    this.dropParked();
    this.session?.close();
  }

  /** Closes the connection now: every call on it fails (a transport error). */
  destroy(): void {
    this.closed = true;
    this.dropSpare();
    this.dropParked();
    this.session?.destroy();
  }

  private connection(): ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const failed = this.failed;
    if (failed !== undefined && this.now() < failed.until)
      throw new TunnelError(
        'transport',
        `cannot reach the traffic-manager at ${this.address}: ${failed.error.message} (next try in ${failed.until - this.now()} ms)`,
        socketErrorCode(failed.error) ?? 'UNAVAILABLE',
        { cause: failed.error },
      );
    this.connectionAttempts++;
    const url = new URL(`${this.tls === undefined ? 'http' : 'https'}://${this.address}`);
    // Our own socket: its 'error' comes before the session fails its calls, so a flow that fails
    // because the connection could not be made is never followed by a connection attempt of its own.
    let connected = false;
    const where = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
    // noDelay: interactive flows; nghttp2 batches frames itself.
    const raw = this.makeConnection?.() ?? net.connect({ ...where, noDelay: true });
    const socket =
      this.tls === undefined ? raw : tls.connect({ socket: raw, ...this.tls, ALPNProtocols: ['h2'] });
    this.ready = new Promise<void>((resolve, reject) => {
      socket.once(this.tls === undefined ? 'connect' : 'secureConnect', () => {
        connected = true;
        this.failed = undefined;
        this.backoff.reset();
        resolve();
      });
      socket.once('error', (e: Error) => {
        if (connected) return;
        this.failed = { until: this.now() + this.backoff.next(), error: e };
        reject(TunnelError.from(e, 'transport'));
      });
    });
    this.ready.catch(() => undefined); // connect() reports it; flows see the session fail
    const session = http2.connect(url, {
      settings: { initialWindowSize: this.streamWindow, enablePush: false },
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
      createConnection: () => socket,
    });
    this.session = session;
    const retire = (): void => {
      if (this.session === session) this.session = undefined;
    };
    // Calls on it report the failure; the next call makes a new connection.
    session.on('error', retire);
    session.on('goaway', retire);
    session.on('close', retire);
    session.once('connect', () => {
      if (!session.destroyed) BdpWindow.attach(session, this.initialConnectionWindow, this.connectionWindow);
    });
    if (this.keepAliveMs > 0) this.keepAlive(session);
    return session;
  }

  private keepAlive(session: ClientHttp2Session): void {
    const timer = setInterval(() => {
      if (session.destroyed || session.closed) return clearInterval(timer);
      if (session.connecting) return;
      const noAnswer = setTimeout(
        () =>
          session.destroy(
            new Error(
              `the connection to ${this.address} did not answer a keep-alive in ${this.keepAliveTimeoutMs} ms`,
            ),
          ),
        this.keepAliveTimeoutMs,
      );
      noAnswer.unref();
      const sent = session.ping(() => clearTimeout(noAnswer));
      if (!sent) clearTimeout(noAnswer);
    }, this.keepAliveMs);
    timer.unref();
    session.once('close', () => clearInterval(timer));
  }
}
