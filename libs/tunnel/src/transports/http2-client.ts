// The client side of Tunnel calls on a node:http2 connection of their own (see http2-channel.ts for
// why not grpc-js). One connection carries every flow; it is made on first use and again after it
// closed, went away (GOAWAY) or missed a keep-alive, so a restarted manager is reached by the next flow.
// A connection that could not be made is not tried again before a backoff (200 ms doubling to 5 s, 20 %
// jitter):
// meanwhile new flows fail at once with its error, instead of each making a port-forward of its own.
import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Backoff } from '../backoff.js';
import type { FrameChannel } from '../protocol/channel.js';
import { TunnelError, socketErrorCode } from '../protocol/errors.js';
import { BdpWindow } from './bdp.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './http2-channel.js';
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
  private readonly backoff: Backoff;
  private readonly now: () => number;
  /** The last connection attempt that failed before connecting, while its backoff runs. */
  private failed: { until: number; error: Error } | undefined;
  /** Connections made (attempts, successful or not): for logs and tests. */
  connectionAttempts = 0;

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
    return http2RequestChannel(
      (extra) =>
        session.request({
          ':method': 'POST',
          ':path': this.path,
          'content-type': 'application/grpc',
          te: 'trailers',
          ...this.headers?.(),
          ...extra,
        }),
      this.maxMessageBytes,
    );
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
    this.session?.close();
  }

  /** Closes the connection now: every call on it fails (a transport error). */
  destroy(): void {
    this.closed = true;
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
