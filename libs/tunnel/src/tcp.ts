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
 * closes it with FIN.
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
    const sent = reader.attach((chunk, frame, wire) => {
      if (stream.writeFrame(chunk, frame, wire)) return true;
      socket.pause();
      return false;
    });
    if (!sent) socket.pause();
  }
  stream.on('drain', () => socket.resume());
  socket.on('end', () => stream.end());

  stream.on('data', (chunk) => {
    if (!socket.write(chunk)) stream.pause();
  });
  socket.on('drain', () => stream.resume());
  stream.on('end', () => socket.end());

  socket.on('error', (err) => stream.disconnect(socketErrorCode(err) ?? 'socket-error', err));
  socket.on('close', () => {
    if (!stream.closed) stream.disconnect('socket closed');
  });
  stream.on('close', (end) => {
    if (socket.destroyed) return;
    if (end.error !== undefined) resetSocket(socket);
    else if (end.reason !== 'eof') socket.destroy();
    // 'eof': both sides already ended; the socket closes on its own once the FINs are done.
  });

  stream.resume();
  socket.resume(); // a 'data' listener does not restart a socket the caller paused
  if (socket.destroyed) stream.disconnect('socket closed');
  return Promise.all([stream.done, socketClosed]).then(([end]) => end);
}

/** TCP RST so the application sees the failure (not a clean FIN). */
function resetSocket(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    // resetAndDestroy throws on a socket that is not connected: a plain destroy does the job then.
    socket.destroy();
  }
}
