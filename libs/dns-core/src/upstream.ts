// The fallback upstream: the nameserver the OS used before us. UDP over one reused socket (replies are
// matched by ID and question, so a spoofed or late reply is ignored), a retry over TCP when the reply is
// truncated, and a timeout on every exchange. Where the sockets come from is injectable: the client's
// overriding resolver uses a pool bound before its redirect exists and registers each TCP source port
// (apps/client dns/bypass-upstream.linux.ts); everyone else lets the upstream open its own.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { createDeadline } from './deadline.js';
import { qtypeName } from './types.js';
import type { Answer, RecordType } from 'dns-packet';

export interface UpstreamQuestion {
  /** As the client asked it (letter case kept), without the trailing dot. */
  readonly name: string;
  readonly qtype: number;
}

export interface UpstreamResponse {
  readonly rcode: number;
  readonly authoritative: boolean;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  /** Without the OPT record. */
  readonly additionals: readonly Answer[];
}

/** Something that answers questions we do not send to the cluster. */
export interface Upstream {
  exchange(question: UpstreamQuestion, signal: AbortSignal): Promise<UpstreamResponse>;
  close(): void;
}

export interface UdpTcpUpstreamOptions {
  readonly address: string;
  readonly port?: number;
  /** Per exchange, UDP and TCP retry together. Default 4000. */
  readonly timeoutMs?: number;
  /** Most exchanges waiting at once; more are rejected at once. Default 1024. */
  readonly maxPending?: number;
  /**
   * UDP sockets to send from, already bound, used in turn; the upstream owns them (close() closes them).
   * Default: one socket opened on first use.
   */
  readonly udpSockets?: readonly dgram.Socket[];
  /** Opens the TCP connection for a truncated reply. Default: `net.connect({ host, port })`. */
  readonly connectTcp?: (to: { readonly host: string; readonly port: number }) => Promise<net.Socket>;
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
}

interface Pending {
  readonly question: UpstreamQuestion;
  readonly resolve: (reply: Buffer) => void;
}

const OUR_PAYLOAD = 1232;

function typeName(qtype: number): RecordType {
  // dns-packet names unknown numbers "UNKNOWN_<n>" and its encoder accepts that form back.
  return (qtypeName(qtype) ?? `UNKNOWN_${qtype}`) as RecordType;
}

function encodeQuery(id: number, q: UpstreamQuestion): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: q.name === '' ? '.' : q.name, type: typeName(q.qtype), class: 'IN' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: OUR_PAYLOAD,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  });
}

/** Checks that a reply answers our question and decodes it; undefined when it does not match. */
function decodeReply(
  reply: Buffer,
  id: number,
  q: UpstreamQuestion,
): { tc: boolean; response: UpstreamResponse } | undefined {
  if (reply.length < 12 || reply.readUInt16BE(0) !== id || (reply[2]! & 0x80) === 0) return undefined;
  let packet: ReturnType<typeof dnsPacket.decode>;
  try {
    packet = dnsPacket.decode(reply);
  } catch {
    return undefined;
  }
  const asked = packet.questions?.[0];
  const name = q.name === '' ? '.' : q.name;
  if (!asked || asked.name.toLowerCase() !== name.toLowerCase()) return undefined;
  const additionals = (packet.additionals ?? []).filter((a) => a.type !== 'OPT');
  return {
    tc: (reply[2]! & 0x02) !== 0,
    response: {
      rcode: reply[3]! & 0x0f,
      authoritative: (reply[2]! & 0x04) !== 0,
      answers: packet.answers ?? [],
      authorities: packet.authorities ?? [],
      additionals,
    },
  };
}

/** Creates the fallback upstream; sockets open on first use and close with close(). */
export function createUdpTcpUpstream(options: UdpTcpUpstreamOptions): Upstream {
  const port = options.port ?? 53;
  const timeoutMs = options.timeoutMs ?? 4000;
  const maxPending = options.maxPending ?? 1024;
  const family = net.isIPv6(options.address) ? 'udp6' : 'udp4';
  if (net.isIP(options.address) === 0) {
    throw new TypeError(`fallback upstream address "${options.address}" is not an IP address`);
  }
  const pending = new Map<number, Pending>();
  let sockets: dgram.Socket[] = [];
  let next = 0;
  let closed = false;

  const listen = (s: dgram.Socket): dgram.Socket => {
    s.on('message', (msg, rinfo) => {
      if (rinfo.port !== port || rinfo.address !== options.address || msg.length < 2) return;
      pending.get(msg.readUInt16BE(0))?.resolve(msg);
    });
    s.on('error', () => {
      // A socket error (e.g. ICMP unreachable surfacing) fails nothing by itself: exchanges time out.
    });
    s.unref();
    return s;
  };
  if (options.udpSockets !== undefined) {
    if (options.udpSockets.length === 0) throw new TypeError('udpSockets: give at least one socket');
    sockets = options.udpSockets.map(listen);
  }
  const udp = (): dgram.Socket => {
    if (sockets.length === 0) sockets = [listen(dgram.createSocket(family))];
    return sockets[next++ % sockets.length]!;
  };
  const connectTcp =
    options.connectTcp ?? ((to: { host: string; port: number }) => Promise.resolve(net.connect(to)));

  const newId = (): number => {
    for (let i = 0; i < 32; i++) {
      const id = randomInt(0, 65536);
      if (!pending.has(id)) return id;
    }
    throw new UpstreamError('no free DNS message id for the fallback upstream');
  };

  const overTcp = async (query: Buffer, signal: AbortSignal): Promise<Buffer> => {
    let conn: net.Socket;
    try {
      conn = await connectTcp({ host: options.address, port });
    } catch (err) {
      throw new UpstreamError(`fallback upstream TCP ${options.address}:${port}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const done = (err?: Error, reply?: Buffer) => {
        signal.removeEventListener('abort', onAbort);
        conn.destroy();
        if (err) reject(err);
        else resolve(reply!);
      };
      const onAbort = () =>
        done(new UpstreamError('fallback upstream timed out over TCP', { cause: signal.reason }));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      conn.write(Buffer.concat([len, query])); // queued until connected

      conn.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      conn.on('error', (err) =>
        done(
          new UpstreamError(`fallback upstream TCP ${options.address}:${port}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      conn.on('close', () =>
        done(new UpstreamError('fallback upstream closed the TCP connection without a reply')),
      );
    });
  };

  return {
    async exchange(question, callerSignal) {
      if (closed) throw new UpstreamError('fallback upstream is closed');
      if (pending.size >= maxPending)
        throw new UpstreamError(`more than ${maxPending} fallback queries waiting`);
      const deadline = createDeadline(
        callerSignal,
        timeoutMs,
        `fallback upstream ${options.address}:${port}`,
      );
      try {
        return await exchange(question, deadline.signal);
      } finally {
        deadline.release();
      }
    },
    close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.close();
      sockets = [];
    },
  };

  async function exchange(question: UpstreamQuestion, signal: AbortSignal): Promise<UpstreamResponse> {
    const id = newId();
    const query = encodeQuery(id, question);
    const reply = await new Promise<{ tc: boolean; response: UpstreamResponse }>((resolve, reject) => {
      const finish = () => {
        pending.delete(id);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        finish();
        reject(
          new UpstreamError(`fallback upstream ${options.address}:${port} did not answer in time`, {
            cause: signal.reason,
          }),
        );
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.set(id, {
        question,
        resolve: (msg) => {
          const decoded = decodeReply(msg, id, question);
          if (!decoded) return; // not ours: keep waiting for the real reply
          finish();
          resolve(decoded);
        },
      });
      udp().send(query, port, options.address, (err) => {
        if (err) {
          finish();
          reject(
            new UpstreamError(`sending to fallback upstream ${options.address}:${port}: ${err.message}`, {
              cause: err,
            }),
          );
        }
      });
    });
    if (!reply.tc) return reply.response;
    const tcpReply = await overTcp(query, signal);
    const decoded = decodeReply(tcpReply, id, question);
    if (!decoded)
      throw new UpstreamError('fallback upstream sent a TCP reply that does not match the question');
    return decoded.response;
  }
}
