// The portable UDP transport: node:dgram, one callback and one Buffer per datagram, one send per reply.
import dgram from 'node:dgram';
import net from 'node:net';
import type { UdpEndpoint, UdpEndpointOptions, UdpHandler } from './types.js';

export async function openDgramEndpoint(
  options: UdpEndpointOptions,
  handler: UdpHandler,
): Promise<UdpEndpoint> {
  const udp = dgram.createSocket({
    type: net.isIPv6(options.address) ? 'udp6' : 'udp4',
    recvBufferSize: options.bufferBytes,
    sendBufferSize: options.bufferBytes,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.port, options.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    udp.close();
    throw err;
  }
  let closed = false;
  const { log } = options;
  udp.on('error', (err) => log.warn({ err: err.message }, 'dns udp socket error'));
  udp.on('message', (msg, rinfo) => {
    const reply = handler(msg, rinfo.address);
    if (reply === undefined) return;
    if (!(reply instanceof Promise)) {
      udp.send(reply, rinfo.port, rinfo.address);
      return;
    }
    reply.then(
      (r) => {
        if (r && !closed) udp.send(r, rinfo.port, rinfo.address);
      },
      (err: unknown) => log.warn({ err: String(err) }, 'dns query failed'),
    );
  });
  const port = udp.address().port;
  return {
    kind: 'dgram',
    port,
    close: async () => {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
}
