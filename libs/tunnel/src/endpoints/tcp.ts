// TCP endpoint: pumps bytes between a TunnelStream and a connected net.Socket, both directions, with
// half-close preserved: the peer's CLOSE_SEND becomes socket.end() (FIN) and reading goes on; the
// socket's EOF becomes CLOSE_SEND and the other direction keeps flowing. Back-pressure: a full stream
// pauses the socket, a full socket pauses the stream.
import type { Socket } from 'node:net';
import { socketErrorCode } from '../protocol/errors.js';
import { frameReaderOf } from './frame-reads.js';
import type { StreamEnd, TunnelStream } from '../protocol/stream.js';

/** The pump of a socket and of its stream, for the listeners below. */
const PUMP = Symbol('pump');
type Pumped<T> = T & { [PUMP]: Pump };

/**
 * One pump: its socket and stream point to it, and their listeners are static functions shared by every
 * pump (`this` is the emitter). Closures per flow add up with thousands of idle flows.
 */
class Pump {
  readonly done: Promise<StreamEnd>;
  private resolve!: (end: StreamEnd) => void;
  private end: StreamEnd | undefined;
  private socketClosed = false;

  constructor(
    readonly stream: TunnelStream,
    readonly socket: Socket,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
    (stream as Pumped<TunnelStream>)[PUMP] = this;
    (socket as Pumped<Socket>)[PUMP] = this;
  }

  /** Resolves `done` with the stream's end once the socket has closed too. */
  settle(end: StreamEnd | undefined, socketClosed: boolean): void {
    this.end ??= end;
    this.socketClosed ||= socketClosed;
    if (this.end !== undefined && this.socketClosed) this.resolve(this.end);
  }

  static of(emitter: Socket | TunnelStream): Pump {
    return (emitter as Pumped<Socket | TunnelStream>)[PUMP];
  }

  // ---- socket listeners (`this` is the socket) ----
  static onSocketData(this: Socket, chunk: Buffer): void {
    if (!Pump.of(this).stream.write(chunk)) this.pause();
  }
  static onSocketEnd(this: Socket): void {
    Pump.of(this).stream.end();
  }
  static onSocketDrain(this: Socket): void {
    Pump.of(this).stream.resume();
  }
  static onSocketError(this: Socket, err: Error): void {
    Pump.of(this).stream.disconnect(socketErrorCode(err) ?? 'socket-error', err);
  }
  static onSocketClose(this: Socket): void {
    const pump = Pump.of(this);
    pump.settle(undefined, true);
    if (!pump.stream.closed) pump.stream.disconnect('socket closed');
  }

  // ---- stream listeners (`this` is the stream) ----
  static onStreamData(this: TunnelStream, chunk: Buffer): void {
    const socket = Pump.of(this).socket;
    // A frame that arrived in pieces is written with one writev, not a write per piece.
    const count = this.received?.data.length ?? 1;
    if (count > 1 && this.receivedPiece === 0) socket.cork();
    if (!socket.write(chunk)) this.pause();
    if (count > 1 && this.receivedPiece === count - 1) socket.uncork();
  }
  static onStreamDrain(this: TunnelStream): void {
    Pump.of(this).socket.resume();
  }
  static onStreamEnd(this: TunnelStream): void {
    Pump.of(this).socket.end();
  }
  static onStreamClose(this: TunnelStream, end: StreamEnd): void {
    const pump = Pump.of(this);
    const socket = pump.socket;
    pump.settle(end, false);
    if (socket.destroyed) return;
    if (end.error !== undefined) resetSocket(socket);
    else if (end.reason !== 'eof' || !socket.writableEnded) socket.destroy();
    // 'eof' after we relayed the peer's CLOSE_SEND: both sides have ended; the socket closes on its
    // own once the FINs are done.
  }
}

/**
 * Runs until both the stream and the socket are closed; resolves with the stream's end, never rejects.
 * Takes ownership of both. A stream that ends with an error resets the socket (RST); a clean end
 * closes it with FIN. A stream that has already ended when this is called closes the socket at once.
 */
export function pumpSocket(stream: TunnelStream, socket: Socket): Promise<StreamEnd> {
  socket.allowHalfOpen = true; // our 'end' handler decides when to FIN
  socket.setNoDelay(true);
  const pump = new Pump(stream, socket);
  if (socket.destroyed) pump.settle(undefined, true);
  else socket.on('close', Pump.onSocketClose);

  const reader = frameReaderOf(socket);
  if (reader === undefined) {
    socket.on('data', Pump.onSocketData);
  } else {
    // The socket reads into DATA frames (see frame-reads.ts): send them as they are.
    reader.attach((frame) => {
      if (stream.writeFrame(frame)) return true;
      socket.pause();
      return false;
    });
  }
  stream.on('drain', Pump.onStreamDrain);
  socket.on('end', Pump.onSocketEnd);
  // A paused socket with nothing buffered emits 'end' as soon as the peer's FIN arrives: one that sent
  // nothing and half-closed before we were called has already ended.
  if (socket.readableEnded) stream.end();

  stream.on('data', Pump.onStreamData);
  socket.on('drain', Pump.onSocketDrain);
  stream.on('end', Pump.onStreamEnd);
  socket.on('error', Pump.onSocketError);
  // As stream.onClosed() does ('close' comes once): the stream may have ended before we were called
  // (the connection died in the same tick as DIAL_OK arrived), and the socket must still be closed then.
  if (stream.ended !== undefined) Pump.onStreamClose.call(stream, stream.ended);
  else stream.on('close', Pump.onStreamClose);

  stream.resume();
  socket.resume(); // a 'data' listener does not restart a socket the caller paused
  if (socket.destroyed) stream.disconnect('socket closed');
  return pump.done;
}

/** TCP RST so the application sees the failure (not a clean FIN). */
function resetSocket(socket: Socket): void {
  if (socket.writableEnded && !socket.writableFinished) {
    // Our FIN may be pending (end() called, shutdown not done yet, e.g. the peer's CLOSE_SEND arrived
    // in the same tick as the failure). Node cannot reset such a socket: resetAndDestroy() then fails
    // with EINVAL and leaves it open for good, never emitting 'close'. Close it instead: the peer's
    // data was complete (it half-closed) and writes from the application now get a reset.
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    // resetAndDestroy throws on a socket that is not connected: a plain destroy does the job then.
    socket.destroy();
  }
}
