// Runs inside the workstation namespace (for --recursive-dns): answers framed DNS queries from the
// cluster DNS on a unix socket by asking whatever resolver the workstation's /etc/resolv.conf names at
// that moment, like a local cluster's DNS forwarding to its host's resolver.
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { forwardUdp } from './serve.js';

const socketPath = process.argv[2];
if (!socketPath) throw new Error('usage: workstation-resolver <socket>');

function nameserver(): string | undefined {
  try {
    const m = /^\s*nameserver\s+(\S+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

rmSync(socketPath, { force: true });
net
  .createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const q = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        const ns = nameserver();
        void (ns ? forwardUdp(q, ns) : Promise.resolve(undefined)).then((resp) => {
          const out = resp ?? Buffer.alloc(0);
          const hdr = Buffer.alloc(2);
          hdr.writeUInt16BE(out.length);
          sock.write(Buffer.concat([hdr, out]));
        });
      }
    });
    sock.on('error', () => sock.destroy());
  })
  .listen(socketPath, () => process.stdout.write('ready\n'));
