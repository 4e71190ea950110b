// The overriding resolver's fallback to the original nameserver, from sockets the redirect lets through
// (see nft-redirect.linux.ts): dns-core's upstream over a small pool of UDP sockets bound before the
// redirect is installed and, when a reply is truncated, one TCP connection from a source port registered
// just before connecting.
import dgram from 'node:dgram';
import net from 'node:net';
import { createUdpTcpUpstream, type Upstream } from '@telepresence/dns-core';

export interface BypassUpstreamOptions {
  readonly address: string;
  readonly port?: number;
  readonly poolSize?: number;
  readonly timeoutMs?: number;
  /** Registers a TCP source port with the redirect's bypass set before we connect from it. */
  readonly allowTcpSourcePort: (port: number) => Promise<void>;
}

export interface BypassUpstream extends Upstream {
  /** The UDP source ports the redirect must let through. */
  readonly udpPorts: readonly number[];
}

export async function openBypassUpstream(options: BypassUpstreamOptions): Promise<BypassUpstream> {
  const sockets = await bindPool(options.address, options.poolSize ?? 4);
  const udpPorts = sockets.map((s) => s.address().port);
  const upstream = createUdpTcpUpstream({
    address: options.address,
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    udpSockets: sockets,
    connectTcp: async ({ host, port }) => {
      const localPort = await freeTcpPort(options.address);
      await options.allowTcpSourcePort(localPort);
      return net.connect({ host, port, localPort });
    },
  });
  return { udpPorts, exchange: (q, signal) => upstream.exchange(q, signal), close: () => upstream.close() };
}

async function bindPool(address: string, size: number): Promise<dgram.Socket[]> {
  const type = net.isIPv6(address) ? 'udp6' : 'udp4';
  const sockets: dgram.Socket[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const socket = dgram.createSocket(type);
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    }
  } catch (e) {
    for (const s of sockets) s.close();
    throw new Error(`binding DNS fallback sockets for ${address}`, { cause: e });
  }
  return sockets;
}

async function freeTcpPort(address: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, net.isIPv6(address) ? '::' : '0.0.0.0', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
