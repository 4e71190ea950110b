// UDP endpoint: one DATA frame is exactly one datagram, both ways. UDP has no back-pressure: datagrams
// that arrive while the stream holds maxBufferedBytes are dropped (and counted), as a full socket
// buffer would drop them.
import type { Socket as DgramSocket } from 'node:dgram';
import type { StreamEnd, TunnelStream } from '../protocol/stream.js';

export interface DatagramPump {
  /** Datagrams dropped because the stream was full. */
  readonly dropped: number;
  readonly done: Promise<StreamEnd>;
}

/**
 * Pumps between a stream and a *connected* dgram socket (socket.connect() done) until the stream
 * ends; then closes the socket. Send errors (e.g. ECONNREFUSED from an ICMP port unreachable) are
 * counted and logged, not fatal: UDP peers come and go.
 */
export function pumpDatagrams(stream: TunnelStream, socket: DgramSocket): DatagramPump {
  const state = { dropped: 0, sendErrors: 0 };
  socket.on('message', (msg) => {
    if (stream.closed) return;
    if (stream.bufferedBytes >= stream.maxBufferedBytes) {
      state.dropped++;
      return;
    }
    stream.write(msg);
  });
  socket.on('error', (err) => {
    state.sendErrors++;
    stream.log.debug({ error: err.message }, 'udp socket error');
  });
  stream.on('data', (datagram) => {
    socket.send(datagram, (err) => {
      if (err) {
        state.sendErrors++;
        stream.log.debug({ error: err.message }, 'udp send failed');
      }
    });
  });
  const done = stream.done.then((end) => {
    try {
      socket.close();
    } catch {
      // already closed by its owner: nothing to release
    }
    if (state.dropped > 0 || state.sendErrors > 0) stream.log.debug(state, 'udp flow losses');
    return end;
  });
  stream.resume();
  return {
    get dropped() {
      return state.dropped;
    },
    done,
  };
}
