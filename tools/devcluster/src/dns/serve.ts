// A tiny DNS transport: UDP and TCP (2-byte length framing) on one address, handing each query packet
// to a handler that returns the response packet.
import dgram from 'node:dgram';
import net from 'node:net';

export type DnsHandler = (query: Buffer) => Promise<Buffer | undefined>;

export interface DnsListener {
  close(): Promise<void>;
}

export async function serveDns(
  host: string,
  port: number,
  handler: DnsHandler,
  log: (msg: string) => void,
): Promise<DnsListener> {
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    handler(msg)
      .then((resp) => {
        if (resp) udp.send(resp, rinfo.port, rinfo.address);
      })
      .catch((err: unknown) => log(`dns ${host}: ${(err as Error).message}`));
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => resolve());
  });
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const q = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        handler(q)
          .then((resp) => {
            if (!resp) return;
            const hdr = Buffer.alloc(2);
            hdr.writeUInt16BE(resp.length);
            sock.write(Buffer.concat([hdr, resp]));
          })
          .catch((err: unknown) => log(`dns ${host}/tcp: ${(err as Error).message}`));
      }
    });
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => resolve());
  });
  return {
    close: async () => {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/** Sends a query over UDP and returns the first response with the same id (or undefined on timeout). */
export function forwardUdp(
  query: Buffer,
  server: string,
  port = 53,
  timeoutMs = 2000,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, timeoutMs);
    sock.on('message', (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.close();
        resolve(msg);
      }
    });
    sock.on('error', () => {
      clearTimeout(timer);
      sock.close();
      resolve(undefined);
    });
    sock.send(query, port, server);
  });
}
