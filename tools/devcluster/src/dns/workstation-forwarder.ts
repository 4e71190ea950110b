// The cluster DNS side of --recursive-dns: starts workstation-resolver in the workstation namespace and
// forwards queries to it over a unix socket (path-based unix sockets cross network namespaces).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Names } from '../net/topology.js';
import type { Forwarder } from './cluster-dns.js';

export async function createWorkstationForwarder(
  names: Names,
  stateDir: string,
  log: (msg: string) => void,
): Promise<Forwarder> {
  const socketPath = path.join(stateDir, 'ws-resolver.sock');
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workstation-resolver.js');
  const child = spawn('ip', ['netns', 'exec', names.workstation, process.execPath, script, socketPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`workstation resolver exited with ${code ?? 'signal'}`)));
  });
  let conn: net.Socket | undefined;
  let buf = Buffer.alloc(0);
  const pending = new Map<number, (r: Buffer | undefined) => void>();
  const connect = () => {
    const c = net.connect(socketPath);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const resp = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (resp.length >= 2) {
          const id = resp.readUInt16BE(0);
          pending.get(id)?.(resp);
          pending.delete(id);
        }
      }
    });
    c.on('error', (err) => log(`recursive dns: ${err.message}`));
    c.on('close', () => {
      conn = undefined;
      buf = Buffer.alloc(0);
    });
    return c;
  };
  return (query) =>
    new Promise((resolve) => {
      conn ??= connect();
      const id = query.readUInt16BE(0);
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, 3000);
      pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      const hdr = Buffer.alloc(2);
      hdr.writeUInt16BE(query.length);
      conn.write(Buffer.concat([hdr, query]));
    });
}
