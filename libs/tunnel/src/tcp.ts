// TCP endpoint: pumps bytes between a TunnelStream and a connected net.Socket, both directions, with
// half-close preserved: the peer's CLOSE_SEND becomes socket.end() (FIN) and reading goes on; the
// socket's EOF becomes CLOSE_SEND and the other direction keeps flowing. Back-pressure: a full stream
// pauses the socket, a full socket pauses the stream.
import type { Socket } from 'node:net';
import { socketErrorCode } from './errors.js';
import { frameReaderOf } from './frame-reads.js';
import type { StreamEnd, TunnelStream } from './stream.js';

/**
 * Runs until both the stream and the socket are closed; resolves with the stream's end, never rejects.
 * Takes ownership of both. A stream that ends with an error resets the socket (RST); a clean end
 * closes it with FIN. A stream that has already ended when this is called closes the socket at once.
 */
export function pumpSocket(stream: TunnelStream, socket: Socket): Promise<StreamEnd> {
  socket.allowHalfOpen = true; // our 'end' handler decides when to FIN
  socket.setNoDelay(true);
  const socketClosed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });

  const reader = frameReaderOf(socket);
  if (reader === undefined) {
    socket.on('data', (chunk: Buffer) => {
      if (!stream.write(chunk)) socket.pause();
    });
  } else {
    // The socket reads into DATA frames (see frame-reads.ts): send them as they are.
    reader.attach(({ chunk, frame, wire }) => {
      if (stream.writeFrame(chunk, frame, wire)) return true;
      socket.pause();
      return false;
    });
  }
  stream.on('drain', () => socket.resume());
  socket.on('end', () => stream.end());
  // A paused socket with nothing buffered emits 'end' as soon as the peer's FIN arrives: one that sent
  // nothing and half-closed before we were called has already ended.
  if (socket.readableEnded) stream.end();

  stream.on('data', (chunk) => {
    // A frame that arrived in pieces is written with one writev, not a write per piece.
    const received = stream.received;
    const pieces = received !== undefined && !(received.first && received.last);
    if (pieces && received.first) socket.cork();
    if (!socket.write(chunk)) stream.pause();
    if (pieces && received.last) socket.uncork();
  });
  socket.on('drain', () => stream.resume());
  stream.on('end', () => socket.end());

  socket.on('error', (err) => stream.disconnect(socketErrorCode(err) ?? 'socket-error', err));
  socket.on('close', () => {
    if (!stream.closed) stream.disconnect('socket closed');
  });
  // onClosed, not on('close'): the stream may have ended before we were called (the connection died
  // in the same tick as DIAL_OK arrived), and the socket must still be closed then.
  stream.onClosed((end) => {
    if (socket.destroyed) return;
    if (end.error !== undefined) resetSocket(socket);
    else if (end.reason !== 'eof' || !socket.writableEnded) socket.destroy();
    // 'eof' after we relayed the peer's CLOSE_SEND: both sides have ended; the socket closes on its
    // own once the FINs are done.
  });

  stream.resume();
  socket.resume(); // a 'data' listener does not restart a socket the caller paused
  if (socket.destroyed) stream.disconnect('socket closed');
  return Promise.all([stream.done, socketClosed]).then(([end]) => end);
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
