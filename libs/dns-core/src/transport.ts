// UDP and TCP on one address and port: binding, TCP framing (RFC 7766: length-prefixed, pipelined,
// answers in any order) and every per-connection bound. Knows nothing about DNS beyond the framing.
import net from 'node:net';
import type { DnsLogger } from './logger.js';
import { openUdpEndpoint } from './udp/endpoint.js';
import type { UdpEndpoint, UdpTransportChoice, UdpTransportKind } from './udp/types.js';
import { MAX_QUERY_BYTES } from './wire.js';

/**
 * One message in, one reply (or nothing) out; synchronous when the answer is at hand. `msg` is only valid
 * during the call: copy it before keeping it across an await.
 */
export type MessageHandler = (
  msg: Buffer,
  source: string,
  tcp: boolean,
) => Buffer | Promise<Buffer | undefined> | undefined;

export interface TransportOptions {
  readonly address: string;
  /** 0 picks a port free for both UDP and TCP. */
  readonly port: number;
  readonly maxTcpConnections: number;
  readonly maxTcpPipeline: number;
  readonly tcpIdleTimeoutMs: number;
  /** TCP connections from other sources are closed at once (UDP sources are the handler's business). */
  readonly allowSource: (address: string) => boolean;
  readonly log: DnsLogger;
  /** Called when we close a connection ourselves, with the reason. */
  readonly onClosedConnection?: (reason: 'refused' | 'too-many' | 'oversized' | 'unread') => void;
  /** How UDP is done (see udp/endpoint.ts); default 'auto'. */
  readonly udpTransport?: UdpTransportChoice;
}

/** Answers a TCP peer may leave unread before we close its connection. */
const MAX_TCP_UNREAD_BYTES = 1 << 20;
/** Asked of the kernel (capped at net.core.[rw]mem_max): absorbs bursts instead of dropping them. */
const UDP_BUFFER_BYTES = 4 << 20;

export class DnsTransport {
  readonly #udp: UdpEndpoint;
  readonly #tcp: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #options: TransportOptions;
  readonly #handler: MessageHandler;
  #closed = false;

  private constructor(udp: UdpEndpoint, tcp: net.Server, options: TransportOptions, handler: MessageHandler) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#options = options;
    this.#handler = handler;
    tcp.on('connection', (socket: net.Socket) => this.#onTcp(socket));
    tcp.on('error', (err) => options.log.warn({ err: err.message }, 'dns tcp listener error'));
  }

  /** Binds UDP, then TCP on the same port; with port 0 retries when TCP finds the port taken. */
  static async open(options: TransportOptions, handler: MessageHandler): Promise<DnsTransport> {
    for (let attempt = 0; ; attempt++) {
      let udp: UdpEndpoint | undefined;
      const tcp = net.createServer();
      try {
        udp = await openUdpEndpoint(
          {
            address: options.address,
            port: options.port,
            bufferBytes: UDP_BUFFER_BYTES,
            maxMessage: MAX_QUERY_BYTES,
            log: options.log,
          },
          (msg, source) => handler(msg, source, false),
          options.udpTransport,
        );
        const port = udp.port;
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port, host: options.address, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
        options.log.info(
          { address: options.address, port, udp: udp.kind },
          'dns server listening on udp and tcp',
        );
        return new DnsTransport(udp, tcp, options, handler);
      } catch (err) {
        await udp?.close();
        tcp.close();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!inUse || options.port !== 0 || attempt >= 10) {
          throw new Error(`dns server: cannot listen on ${options.address}:${options.port}`, { cause: err });
        }
      }
    }
  }

  get port(): number {
    return this.#udp.port;
  }

  /** Which UDP transport serves: the batched native one or node:dgram. */
  get udpTransport(): UdpTransportKind {
    return this.#udp.kind;
  }

  get tcpConnections(): number {
    return this.#sockets.size;
  }

  /** Stops listening and closes every TCP connection; replies still pending are not sent. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#sockets) s.destroy();
    await Promise.all([this.#udp.close(), new Promise<void>((r) => this.#tcp.close(() => r()))]);
  }

  #onTcp(socket: net.Socket): void {
    const { allowSource, maxTcpConnections, maxTcpPipeline, tcpIdleTimeoutMs, log } = this.#options;
    const closeWith = (reason: 'refused' | 'too-many' | 'oversized' | 'unread') => {
      this.#options.onClosedConnection?.(reason);
      socket.destroy();
    };
    const source = socket.remoteAddress ?? '';
    socket.on('error', () => socket.destroy());
    if (!allowSource(source)) return closeWith('refused');
    if (this.#sockets.size >= maxTcpConnections) return closeWith('too-many');
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setTimeout(tcpIdleTimeoutMs, () => socket.destroy());
    let pending = 0;
    let buffered: Buffer = Buffer.alloc(0);
    const send = (reply: Buffer | undefined) => {
      if (reply === undefined || socket.destroyed) return;
      if (socket.writableLength > MAX_TCP_UNREAD_BYTES) return closeWith('unread');
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([len, reply]));
    };
    // Handles complete frames while fewer than maxTcpPipeline queries are outstanding; pauses reading otherwise.
    const drain = (): void => {
      while (buffered.length >= 2 && pending < maxTcpPipeline && !socket.destroyed) {
        const len = buffered.readUInt16BE(0);
        if (len > MAX_QUERY_BYTES) return closeWith('oversized'); // not a query we will ever read
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const reply = this.#handler(msg, source, true);
        if (!(reply instanceof Promise)) {
          send(reply);
          continue;
        }
        pending++;
        reply
          .then(send, (err: unknown) => log.warn({ err: String(err) }, 'dns query failed'))
          .finally(() => {
            pending--;
            drain();
          });
      }
      if (pending >= maxTcpPipeline) socket.pause();
      else if (socket.isPaused()) socket.resume();
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      drain();
    });
  }
}
