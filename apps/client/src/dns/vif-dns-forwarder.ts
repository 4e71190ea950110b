// DNS over the TUN (reference 4.9, and its [obs]: TCP too): flows to the VIF's DNS address, port 53, are
// not tunneled to the cluster but handed to our DNS server on loopback. UDP: one socket per flow (the
// server sees a loopback source it serves), closed after idleMs without traffic; TCP: a loopback
// connection piped both ways with half-close. The VIF's flow handler asks matches() first.
import dgram from 'node:dgram';
import net from 'node:net';
import type { AttachTcp, AttachUdp, FlowId, TcpFlow, UdpFlow } from '@telepresence/netstack';

export interface DnsForwarderOptions {
  /** The address the OS sends DNS to (routed into the TUN). */
  readonly dnsAddress: string;
  /** A UDP flow (its socket) ends after this long without traffic. Default 5000 ms. */
  readonly idleMs?: number;
}

export class VifDnsForwarder {
  readonly dnsAddress: string;
  private target: { address: string; port: number } | undefined;
  private readonly idleMs: number;
  private readonly open = new Set<{ close(): void }>();

  constructor(options: DnsForwarderOptions) {
    if (net.isIP(options.dnsAddress) === 0) {
      throw new TypeError(`VIF DNS address "${options.dnsAddress}" is not an IP address`);
    }
    this.dnsAddress = options.dnsAddress;
    this.idleMs = options.idleMs ?? 5000;
  }

  /** Where DNS flows go from now on (our server). */
  serveDnsAt(address: string, port: number): void {
    this.target = { address, port };
  }

  matches(id: FlowId): boolean {
    return id.dst === this.dnsAddress && id.dstPort === 53;
  }

  async acceptUdp(id: FlowId): Promise<AttachUdp> {
    const target = this.requireTarget(id);
    return (flow: UdpFlow) => {
      const socket = dgram.createSocket(net.isIPv6(target.address) ? 'udp6' : 'udp4');
      let timer: NodeJS.Timeout | undefined;
      const entry = {
        close: () => {
          clearTimeout(timer);
          this.open.delete(entry);
          socket.close();
          flow.destroy();
        },
      };
      const touch = (): void => {
        clearTimeout(timer);
        timer = setTimeout(entry.close, this.idleMs);
        timer.unref();
      };
      this.open.add(entry);
      touch();
      socket.on('message', (reply) => {
        touch();
        flow.write(reply);
      });
      socket.on('error', entry.close);
      flow.on('data', (query: Buffer) => {
        touch();
        socket.send(query, target.port, target.address);
      });
      flow.on('close', () => {
        if (this.open.has(entry)) entry.close();
      });
      flow.on('error', () => {});
    };
  }

  async acceptTcp(id: FlowId): Promise<AttachTcp> {
    const target = this.requireTarget(id);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.address, port: target.port, allowHalfOpen: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const entry = { close: () => socket.destroy() };
        this.open.add(entry);
        resolve((flow: TcpFlow) => {
          flow.pipe(socket);
          socket.pipe(flow);
          const done = (): void => {
            this.open.delete(entry);
            socket.destroy();
            flow.destroy();
          };
          socket.on('error', done);
          flow.on('error', done);
          socket.on('close', () => this.open.delete(entry));
        });
      });
    });
  }

  /** Ends every forwarded flow (VIF closing). */
  close(): void {
    for (const entry of [...this.open]) entry.close();
  }

  private requireTarget(id: FlowId): { address: string; port: number } {
    if (this.target === undefined) {
      throw new Error(`DNS to ${id.dst}:53 arrived before the DNS server was ready`);
    }
    return this.target;
  }
}
