// The remote dialer: for an accepted stream, connect to the flow's destination within the stream's
// dial timeout, answer DIAL_OK and pump, or answer DIAL_REJECT with the reason (ECONNREFUSED,
// ETIMEDOUT, EHOSTUNREACH, ...) and end the stream.
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { dialRejectReason, TunnelError } from '../protocol/errors.js';
import { connectReadingFrames } from './frame-reads.js';
import type { StreamEnd, TunnelStream } from '../protocol/stream.js';
import { pumpSocket } from './tcp.js';
import { pumpDatagrams } from './udp.js';

export interface DialerOptions {
  /** Used when the stream's dial timeout is 0. Default 3 s (the original's default). */
  defaultDialTimeoutMs?: number;
}

/** Dials the stream's destination and pumps until the flow ends. Resolves with the end; never rejects. */
export async function serveDialer(stream: TunnelStream, options: DialerOptions = {}): Promise<StreamEnd> {
  const timeoutMs = stream.dialTimeoutMs > 0 ? stream.dialTimeoutMs : (options.defaultDialTimeoutMs ?? 3000);
  const { destination, protocol, family } = stream.id;
  if (protocol === 'udp') {
    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(destination.port, destination.ip, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (e: unknown) {
      socket.close();
      stream.dialReject(dialRejectReason(e), e instanceof Error ? e.message : String(e));
      return stream.done;
    }
    stream.dialOk();
    return pumpDatagrams(stream, socket).done;
  }
  let socket: Socket;
  try {
    socket = await dialTcp(destination.ip, destination.port, timeoutMs, stream, { readFrames: true });
  } catch (e: unknown) {
    if (!stream.closed) {
      stream.log.debug({ reason: dialRejectReason(e), timeoutMs }, 'dial failed');
      stream.dialReject(dialRejectReason(e), e instanceof Error ? e.message : String(e));
    }
    return stream.done;
  }
  if (stream.closed) {
    socket.destroy(); // the originator went away while we dialed
    return stream.done;
  }
  stream.dialOk();
  return pumpSocket(stream, socket);
}

export interface DialTcpOptions {
  /**
   * The socket will only be read by pumpSocket(stream, socket): it reads straight into DATA frames of
   * up to stream.maxChunkBytes (no copy, fewer and bigger messages) and emits no 'data' events. It
   * starts paused; pumpSocket resumes it. Needs `stream`.
   */
  readFrames?: boolean;
}

/** Connects with a timeout; gives up early if the stream closes meanwhile. */
export function dialTcp(
  host: string,
  port: number,
  timeoutMs: number,
  stream?: TunnelStream,
  options: DialTcpOptions = {},
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const connectOptions = { host, port, allowHalfOpen: true, noDelay: true };
    const socket =
      options.readFrames === true && stream !== undefined
        ? connectReadingFrames(connectOptions, stream.maxChunkBytes)
        : connect(connectOptions);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      unsubscribe();
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onStreamClose = () => onError(new TunnelError('aborted', 'stream closed while dialing', 'aborted'));
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`connect ${host}:${port} timed out after ${timeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
      onError(err);
    }, timeoutMs);
    socket.once('error', onError);
    socket.once('connect', onConnect);
    // Last, and onClosed rather than once('close'): for a stream that already ended it fires at once
    // (destroying the socket before it connects) instead of leaving the dial to run to its timeout.
    let unsubscribe = (): void => {};
    unsubscribe = stream?.onClosed(onStreamClose) ?? unsubscribe;
  });
}
