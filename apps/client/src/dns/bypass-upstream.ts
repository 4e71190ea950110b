// The fallback to the original nameserver for names that are not the cluster's, from sockets the redirect
// lets through (see nft-redirect.ts): a small pool of UDP sockets bound before the redirect is installed,
// and, when a reply is truncated, one TCP connection from a source port registered just before connecting.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Packet, RecordType } from 'dns-packet';
import type { Upstream, UpstreamQuestion, UpstreamResponse } from '@telepresence/dns-core';

export interface BypassUpstreamOptions {
  readonly address: string;
  readonly port?: number;
  readonly poolSize?: number;
  readonly timeoutMs?: number;
  /** Registers a TCP source port with the redirect's bypass set before we connect from it. */
  readonly allowTcpSourcePort: (port: number) => Promise<void>;
}

const RCODES: Readonly<Record<string, number>> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

function typeName(qtype: number): RecordType {
  const known: Readonly<Record<number, RecordType>> = {
    1: 'A',
    2: 'NS',
    5: 'CNAME',
    6: 'SOA',
    12: 'PTR',
    15: 'MX',
    16: 'TXT',
    28: 'AAAA',
    33: 'SRV',
  };
  return known[qtype] ?? (`UNKNOWN_${qtype}` as RecordType);
}

function encodeQuery(id: number, q: UpstreamQuestion): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: q.name === '' ? '.' : q.name, type: typeName(q.qtype), class: 'IN' }],
  });
}

function toResponse(p: Packet): UpstreamResponse {
  return {
    rcode: RCODES[(p as Packet & { rcode?: string }).rcode ?? 'NOERROR'] ?? 2,
    authoritative: ((p.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
    answers: p.answers ?? [],
    authorities: p.authorities ?? [],
    additionals: (p.additionals ?? []).filter((a) => a.type !== 'OPT'),
  };
}

function matches(p: Packet, id: number, q: UpstreamQuestion): boolean {
  const asked = p.questions?.[0];
  return (
    p.id === id &&
    p.type === 'response' &&
    asked !== undefined &&
    asked.name.toLowerCase() === q.name.toLowerCase()
  );
}

interface Pending {
  readonly question: UpstreamQuestion;
  readonly done: (reply: Packet) => void;
}

export class BypassUpstream implements Upstream {
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(
    private readonly options: BypassUpstreamOptions,
    private readonly sockets: readonly dgram.Socket[],
  ) {
    for (const socket of sockets) {
      socket.on('message', (msg) => this.onMessage(msg));
      socket.on('error', () => undefined); // an ICMP error on one socket only fails that exchange by timeout
    }
  }

  static async open(options: BypassUpstreamOptions): Promise<BypassUpstream> {
    const type = net.isIPv6(options.address) ? 'udp6' : 'udp4';
    const sockets: dgram.Socket[] = [];
    try {
      for (let i = 0; i < (options.poolSize ?? 4); i++) {
        const socket = dgram.createSocket(type);
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(0, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.unref();
      }
    } catch (e) {
      for (const s of sockets) s.close();
      throw new Error(`binding DNS fallback sockets for ${options.address}`, { cause: e });
    }
    return new BypassUpstream(options, sockets);
  }

  /** The UDP source ports the redirect must let through. */
  get udpPorts(): number[] {
    return this.sockets.map((s) => s.address().port);
  }

  private onMessage(msg: Buffer): void {
    let packet: Packet;
    try {
      packet = dnsPacket.decode(msg);
    } catch {
      return; // garbage from the network: ignore, the exchange times out
    }
    const id = packet.id ?? -1;
    const p = this.pending.get(id);
    if (p && matches(packet, id, p.question)) {
      this.pending.delete(id);
      p.done(packet);
    }
  }

  async exchange(question: UpstreamQuestion, signal: AbortSignal): Promise<UpstreamResponse> {
    if (this.closed) throw new Error('DNS fallback is closed');
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs ?? 4000)]);
    const reply = await this.udpExchange(question, timeout);
    if (((reply.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0) {
      return toResponse(await this.tcpExchange(question, timeout));
    }
    return toResponse(reply);
  }

  private udpExchange(question: UpstreamQuestion, signal: AbortSignal): Promise<Packet> {
    let id = randomInt(0, 65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const socket = this.sockets[this.next++ % this.sockets.length];
    if (socket === undefined) return Promise.reject(new Error('no fallback socket'));
    return new Promise<Packet>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        reject(new Error(`DNS fallback ${this.options.address}: no answer for ${question.name}`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        question,
        done: (p) => {
          signal.removeEventListener('abort', onAbort);
          resolve(p);
        },
      });
      socket.send(encodeQuery(id, question), this.options.port ?? 53, this.options.address);
    });
  }

  private async freeTcpPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, net.isIPv6(this.options.address) ? '::' : '0.0.0.0', resolve);
    });
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  private async tcpExchange(question: UpstreamQuestion, signal: AbortSignal): Promise<Packet> {
    const localPort = await this.freeTcpPort();
    await this.options.allowTcpSourcePort(localPort);
    const id = randomInt(0, 65536);
    const query = encodeQuery(id, question);
    const framed = Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query]);
    return new Promise<Packet>((resolve, reject) => {
      const socket = net.connect({ host: this.options.address, port: this.options.port ?? 53, localPort });
      let buffered = Buffer.alloc(0);
      const fail = (err: Error): void => {
        socket.destroy();
        reject(err);
      };
      const onAbort = (): void =>
        fail(new Error(`DNS fallback ${this.options.address} (tcp): no answer for ${question.name}`));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('connect', () => socket.write(framed));
      socket.on('error', fail);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) return;
        signal.removeEventListener('abort', onAbort);
        socket.end();
        try {
          const packet = dnsPacket.decode(buffered.subarray(2, 2 + len));
          if (!matches(packet, id, question)) throw new Error('reply does not match the question');
          resolve(packet);
        } catch (e) {
          reject(new Error(`DNS fallback ${this.options.address} (tcp): bad reply`, { cause: e }));
        }
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.close();
    this.pending.clear();
  }
}
