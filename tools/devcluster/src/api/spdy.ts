// A minimal server side of SPDY/3.1 (as moby/spdystream, which kubectl uses, speaks it) carrying the
// kubelet's port-forward protocol: kubectl opens an "error" and a "data" stream per connection, with
// headers streamType, port and requestID; the server connects to that pod port and pipes the data
// stream. No flow control (spdystream does not enforce it either).
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { spdyDictionary } from './spdy-dictionary.js';

const typeSynStream = 1;
const typeSynReply = 2;
const typeRstStream = 3;
const typePing = 6;
const typeGoAway = 7;
const flagFin = 1;

export type PortDialer = (port: number) => net.Socket;

interface PfStream {
  id: number;
  type: string;
  port: number;
  requestId: string;
  finSent: boolean;
}

interface Pair {
  data?: PfStream;
  error?: PfStream;
  socket?: net.Socket;
  pending: Buffer[];
  clientFin: boolean;
}

/** zlib with the SPDY dictionary, one context per direction for the whole session. */
class HeaderCodec {
  private readonly inflater = zlib.createInflate({ dictionary: spdyDictionary });
  private readonly deflater = zlib.createDeflate({ dictionary: spdyDictionary });
  private inflated: Buffer[] = [];
  private deflated: Buffer[] = [];

  constructor() {
    this.inflater.on('data', (d: Buffer) => this.inflated.push(d));
    this.deflater.on('data', (d: Buffer) => this.deflated.push(d));
  }

  async decode(block: Buffer): Promise<Map<string, string>> {
    this.inflater.write(block);
    await new Promise<void>((r) => this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    const raw = Buffer.concat(this.inflated);
    this.inflated = [];
    const out = new Map<string, string>();
    let pos = 4;
    const n = raw.readUInt32BE(0);
    for (let i = 0; i < n; i++) {
      const kl = raw.readUInt32BE(pos);
      const k = raw.subarray(pos + 4, pos + 4 + kl).toString('latin1');
      pos += 4 + kl;
      const vl = raw.readUInt32BE(pos);
      const v = raw.subarray(pos + 4, pos + 4 + vl).toString('latin1');
      pos += 4 + vl;
      out.set(k.toLowerCase(), v.split('\0')[0] ?? '');
    }
    return out;
  }

  async encode(headers: Record<string, string>): Promise<Buffer> {
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const entries = Object.entries(headers);
    parts.push(u32(entries.length));
    for (const [k, v] of entries)
      parts.push(u32(k.length), Buffer.from(k, 'latin1'), u32(v.length), Buffer.from(v, 'latin1'));
    this.deflater.write(Buffer.concat(parts));
    await new Promise<void>((r) => this.deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    const out = Buffer.concat(this.deflated);
    this.deflated = [];
    return out;
  }

  close(): void {
    this.inflater.close();
    this.deflater.close();
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | 3, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(payload.length, 4);
  h.writeUInt8(flags, 4);
  return Buffer.concat([h, payload]);
}

function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(data.length, 4);
  h.writeUInt8(flags, 4);
  return Buffer.concat([h, data]);
}

export function upgradeResponse(): string {
  return 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n';
}

/** Serves one upgraded SPDY connection until either side closes it. */
export function serveSpdyPortForward(
  conn: Duplex,
  head: Buffer,
  dial: PortDialer,
  log?: (msg: string) => void,
): void {
  const codec = new HeaderCodec();
  const streams = new Map<number, PfStream>();
  const pairs = new Map<string, Pair>();
  let buf = head.length ? Buffer.from(head) : Buffer.alloc(0);
  let queue: Promise<void> = Promise.resolve();
  let closed = false;

  const write = (frame: Buffer) => {
    if (!closed && conn.writable) conn.write(frame);
  };
  const sendData = (s: PfStream, data: Buffer, fin = false) => {
    if (s.finSent) return;
    if (fin) s.finSent = true;
    write(dataFrame(s.id, fin ? flagFin : 0, data));
  };
  const reply = async (id: number) => {
    const block = await codec.encode({});
    const p = Buffer.alloc(4);
    p.writeUInt32BE(id & 0x7fffffff);
    write(controlFrame(typeSynReply, 0, Buffer.concat([p, block])));
  };

  const startPair = (pair: Pair) => {
    const data = pair.data;
    if (!data || pair.socket) return;
    const sock = dial(data.port);
    pair.socket = sock;
    for (const chunk of pair.pending) sock.write(chunk);
    pair.pending = [];
    if (pair.clientFin) sock.end();
    sock.on('data', (d: Buffer) => sendData(data, d));
    sock.on('end', () => {
      sendData(data, Buffer.alloc(0), true);
      if (pair.error) sendData(pair.error, Buffer.alloc(0), true);
    });
    sock.on('error', (err) => {
      log?.(`portforward (spdy) port ${data.port}: ${err.message}`);
      if (pair.error)
        sendData(pair.error, Buffer.from(`error forwarding port ${data.port} to pod: ${err.message}`), true);
      sendData(data, Buffer.alloc(0), true);
    });
  };

  const onFrame = async (frame: Buffer) => {
    const b0 = frame[0] ?? 0;
    const flags = frame[4] ?? 0;
    const payload = frame.subarray(8);
    if (b0 & 0x80) {
      const type = frame.readUInt16BE(2);
      if (type === typeSynStream) {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const headers = await codec.decode(payload.subarray(10));
        const s: PfStream = {
          id,
          type: headers.get('streamtype') ?? '',
          port: Number(headers.get('port') ?? 0),
          requestId: headers.get('requestid') ?? String(id),
          finSent: false,
        };
        streams.set(id, s);
        await reply(id);
        const pair = pairs.get(s.requestId) ?? { pending: [], clientFin: false };
        pairs.set(s.requestId, pair);
        if (s.type === 'error') pair.error = s;
        else if (s.type === 'data') {
          pair.data = s;
          startPair(pair);
        }
      } else if (type === typePing) {
        write(frame);
      } else if (type === typeRstStream) {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const s = streams.get(id);
        if (s) pairs.get(s.requestId)?.socket?.destroy();
      } else if (type === typeGoAway) {
        shutdown();
      }
      return;
    }
    const id = frame.readUInt32BE(0) & 0x7fffffff;
    const s = streams.get(id);
    if (!s || s.type !== 'data') return;
    const pair = pairs.get(s.requestId);
    if (!pair) return;
    if (payload.length) {
      if (pair.socket) pair.socket.write(payload);
      else pair.pending.push(Buffer.from(payload));
    }
    if (flags & flagFin) {
      pair.clientFin = true;
      pair.socket?.end();
    }
  };

  const shutdown = () => {
    if (closed) return;
    closed = true;
    for (const p of pairs.values()) p.socket?.destroy();
    codec.close();
    conn.destroy();
  };

  conn.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8) {
      const len = buf.readUInt32BE(4) & 0xffffff;
      if (buf.length < 8 + len) break;
      const frame = Buffer.from(buf.subarray(0, 8 + len));
      buf = buf.subarray(8 + len);
      queue = queue
        .then(() => onFrame(frame))
        .catch((err: unknown) => {
          log?.(`portforward (spdy): ${(err as Error).message}`);
          shutdown();
        });
    }
  });
  conn.on('close', shutdown);
  conn.on('error', shutdown);
}
