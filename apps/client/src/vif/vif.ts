// The VIF: a TUN device (libs/netstack), routes for the routed set on it, and every accepted flow carried
// to the cluster as a libs/tunnel stream over Manager.Tunnel. The stack answers a SYN only after the
// manager's DialOK, so a closed port in the cluster is a real "connection refused" here.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  Netstack,
  type ConnectSignal,
  type FlowHandler,
  type FlowId,
  type TcpFlow,
  type UdpFlow,
} from '@telepresence/netstack';
import { contains, formatCidr, parseIp, type Cidr } from '@telepresence/subnets';
import { ConnId, openTunnel, pumpSocket, type TunnelClient, type TunnelStream } from '@telepresence/tunnel';
import type { Logger } from 'pino';
import { AttemptSerializer, RecursionRefused } from './attempt-serializer.js';
import { chooseDnsSubnet } from './dns-subnet.js';
import type { VifDns } from '../dns/os-resolver.js';
import { VifDnsForwarder } from '../dns/vif-dns-forwarder.js';
import type { RouteTable } from '../routing/route-table.js';
import type { OpenTun, Tun } from './tun.js';

export interface VifCounters {
  flowsOpen: number;
  flowsTotal: number;
  bytesOut: number;
  bytesIn: number;
  refusedRecursive: number;
}

export interface VifOptions {
  readonly log: Logger;
  /** The manager's gRPC client (re-read per flow: it changes when the session is re-established). */
  readonly tunnelClient: () => TunnelClient;
  readonly sessionId: () => string;
  readonly dialTimeoutMs: number;
  readonly roundtripLatencyMs: number;
  /** Called with the device name before anything is created under it (state file). */
  readonly beforeCreate: (tunName: string) => Promise<void>;
  readonly mtu?: number;
  /** The TUN (tun.linux.ts) and the route table its routes go to (routing/route-table.linux.ts). */
  readonly openTun: OpenTun;
  readonly routeTable: RouteTable;
}

/** What pumpSocket needs of a socket beyond Duplex, shared by every flow (`this` is the flow). */
const socketMethods = {
  setNoDelay(this: Duplex): Duplex {
    return this;
  },
  resetAndDestroy(this: Duplex): Duplex {
    return this.destroy(new Error('reset by the cluster side'));
  },
};

/** True when the flow comes from inside a routed cluster subnet: a cluster on this host routing back in. */
export function isRecursiveSource(src: string, routed: readonly Cidr[]): Cidr | undefined {
  const ip = parseIp(src);
  return routed.find(
    (c) => contains(c, ip) && !(c.prefix < (c.family === 4 ? 31 : 127) && ip.address === c.address),
  );
}

export class Vif {
  /** Totals of ended flows; `counters` adds the open ones. */
  private readonly ended: VifCounters = {
    flowsOpen: 0,
    flowsTotal: 0,
    bytesOut: 0,
    bytesIn: 0,
    refusedRecursive: 0,
  };
  private routes: Cidr[] = [];
  /** isRecursiveSource by source address for the current routes (flows repeat a few sources). */
  private readonly recursionBySource = new Map<string, Cidr | null>();
  private readonly serializer = new AttemptSerializer();
  private closed = false;
  private dns: VifDnsForwarder | undefined;
  /** TCP dials in flight by destination (their connection's signal), so a recursive echo can end one. */
  private readonly dialing = new Map<string, ConnectSignal>();
  private readonly streams = new Set<TunnelStream>();

  private constructor(
    readonly name: string,
    private readonly tun: Tun,
    private stack: Netstack | undefined,
    private readonly options: VifOptions,
  ) {}

  static async open(options: VifOptions): Promise<Vif> {
    const tun = options.openTun('tel%d');
    const vif = new Vif(tun.name, tun, undefined, options);
    try {
      await options.beforeCreate(tun.name);
      // libs/netstack pays per packet, not per byte: its README recommends the largest MTU and a long
      // TUN queue (drops there cost the kernel's sender a slow recovery).
      const mtu = options.mtu ?? 65520;
      await tun.bringUp(mtu, 10_000);
      vif.stack = new Netstack(tun.device, vif.flowHandler(), {
        mtu,
        connectTimeoutMs: options.dialTimeoutMs + 2000,
      });
      vif.stack.start();
    } catch (e) {
      await vif.close();
      throw e;
    }
    options.log.info({ tun: tun.name }, 'VIF up');
    return vif;
  }

  get counters(): VifCounters {
    let bytesOut = this.ended.bytesOut;
    let bytesIn = this.ended.bytesIn;
    for (const s of this.streams) {
      bytesOut += s.stats.bytesSent;
      bytesIn += s.stats.bytesReceived;
    }
    return { ...this.ended, flowsOpen: this.streams.size, bytesOut, bytesIn };
  }

  get routedSubnets(): readonly Cidr[] {
    return this.routes;
  }

  /** Makes the TUN's routes exactly `want` (adds first, then removes, so nothing is briefly unrouted). */
  async setRoutes(want: readonly Cidr[]): Promise<void> {
    const key = (c: Cidr): string => formatCidr(c);
    const have = new Map(this.routes.map((c) => [key(c), c]));
    const next = new Map(want.map((c) => [key(c), c]));
    const table = this.options.routeTable;
    for (const [k] of next) if (!have.has(k)) await table.add(this.name, k);
    for (const [k] of have) {
      if (!next.has(k)) await table.delete(this.name, k).catch(() => undefined);
    }
    this.routes = [...want];
    this.recursionBySource.clear();
    this.options.log.info({ routes: [...next.keys()] }, 'routes updated');
  }

  /**
   * Gives the TUN a DNS /30 of its own (reference 4.9): DNS to its .2 (UDP and TCP) goes to our DNS
   * server instead of the cluster. `avoid`: routed subnets and local routes. For the resolved and
   * Windows hooks.
   */
  async enableDns(avoid: readonly Cidr[]): Promise<VifDns> {
    const subnet = chooseDnsSubnet([...avoid, ...this.routes]);
    await this.tun.addAddress(subnet.tunAddress);
    const forwarder = new VifDnsForwarder({ dnsAddress: subnet.dnsAddress });
    this.dns = forwarder;
    const ifindex = await this.tun.ifindex();
    this.options.log.info({ dns: subnet.dnsAddress, subnet: subnet.cidr }, 'VIF DNS address');
    return {
      name: this.name,
      ifindex,
      dnsAddress: subnet.dnsAddress,
      serveDnsAt: (address, port) => forwarder.serveDnsAt(address, port),
    };
  }

  private flowHandler(): FlowHandler {
    return {
      onTcpConnect: (id, signal) =>
        this.dns?.matches(id)
          ? this.dns.acceptTcp(id)
          : this.connect(id, signal).then(
              (stream) => (flow: TcpFlow) => this.pumpTcp(stream, flow),
              (e: unknown) => this.dialFailed(id, e),
            ),
      onUdpFlow: (id, signal) =>
        this.dns?.matches(id)
          ? this.dns.acceptUdp(id)
          : this.connect(id, signal).then(
              (stream) => (flow: UdpFlow) => this.pumpUdp(stream, flow),
              (e: unknown) => this.dialFailed(id, e),
            ),
    };
  }

  /** A flow the netstack now refuses (RST, ICMP): say why at debug level ("why was I refused?"). */
  private dialFailed(id: FlowId, e: unknown): never {
    this.options.log.debug(
      { flow: `${id.protocol} ${id.src}:${id.srcPort} -> ${id.dst}:${id.dstPort}`, err: String(e) },
      'dial failed',
    );
    throw e;
  }

  private recursiveSource(src: string): Cidr | undefined {
    let found = this.recursionBySource.get(src);
    if (found === undefined) {
      found = isRecursiveSource(src, this.routes) ?? null;
      if (this.recursionBySource.size >= 1024) this.recursionBySource.clear();
      this.recursionBySource.set(src, found);
    }
    return found ?? undefined;
  }

  /** Opens the tunnel stream for a new flow and waits for the far side's dial result. */
  private async connect(id: FlowId, signal: ConnectSignal): Promise<TunnelStream> {
    const recursive = this.recursiveSource(id.src);
    if (recursive !== undefined) {
      this.ended.refusedRecursive++;
      this.options.log.warn(
        { src: id.src, dst: id.dst, subnet: formatCidr(recursive) },
        `refusing recursive ${id.protocol} dispatch from routed subnet`,
      );
      const refused = new RecursionRefused(
        `refusing recursive ${id.protocol} ${id.src} dispatch from routed subnet ${formatCidr(recursive)}`,
      );
      // The attempt this one echoes waits for a dial that can only time out (our RST to the cluster's
      // dial is routed back into the TUN): fail it now, and with it the attempts serialized behind it.
      const echoed = id.protocol === 'tcp' ? this.dialing.get(`${id.dst}:${id.dstPort}`) : undefined;
      echoed?.abort(refused);
      throw refused;
    }
    // The dial listens to the connection's own signal (no AbortController per flow: connect-signal.ts).
    const dial = async (): Promise<TunnelStream> => {
      const key = `${id.dst}:${id.dstPort}`;
      if (id.protocol === 'tcp') this.dialing.set(key, signal);
      try {
        return await this.dial(id, signal);
      } finally {
        if (this.dialing.get(key) === signal) this.dialing.delete(key);
      }
    };
    // UDP has no handshake to serialize on; TCP attempts to one destination are serialized (recursion).
    return id.protocol === 'tcp' ? this.serializer.attempt(`${id.dst}:${id.dstPort}`, dial) : dial();
  }

  /** One dial through the tunnel; `signal` ends it early (quit, SYN timeout, or a recursive echo). */
  private async dial(id: FlowId, signal: ConnectSignal): Promise<TunnelStream> {
    const connId = ConnId.of(id.protocol, { ip: id.src, port: id.srcPort }, { ip: id.dst, port: id.dstPort });
    const stream = await openTunnel(
      this.options.tunnelClient(),
      {
        id: connId,
        sessionId: this.options.sessionId(),
        dialTimeoutMs: this.options.dialTimeoutMs,
        roundtripLatencyMs: this.options.roundtripLatencyMs,
      },
      { signal },
    );
    // The stream listens to `signal` itself: an abort ends it, which settles `dialed` (not ok).
    const outcome = await stream.dialed;
    if (!outcome.ok) {
      stream.disconnect?.('dial rejected');
      if (signal.aborted) throw signal.reason; // e.g. RecursionRefused, for the attempts behind this one
      throw new Error(`dial ${id.dst}:${id.dstPort} rejected: ${outcome.message}`);
    }
    return stream;
  }

  private track(stream: TunnelStream): void {
    this.ended.flowsTotal++;
    this.streams.add(stream);
    void stream.done.then(() => {
      this.ended.bytesOut += stream.stats.bytesSent;
      this.ended.bytesIn += stream.stats.bytesReceived;
      this.streams.delete(stream);
    });
  }

  private pumpTcp(stream: TunnelStream, flow: TcpFlow): void {
    this.track(stream);
    // pumpSocket (libs/tunnel) drives a net.Socket; the stack's flow is a Duplex with the same stream
    // semantics (half-close, back-pressure, destroy = RST), so give it the two socket-only methods.
    void pumpSocket(stream, Object.assign(flow as Duplex, socketMethods) as unknown as Socket);
  }

  private pumpUdp(stream: TunnelStream, flow: UdpFlow): void {
    this.track(stream);
    flow.on('data', (datagram: Buffer) => {
      if (stream.bufferedBytes < stream.maxBufferedBytes) stream.write(datagram);
    });
    stream.on('data', (datagram) => flow.write(datagram));
    flow.on('end', () => stream.end());
    flow.on('error', () => stream.disconnect('udp flow error'));
    flow.on('close', () => {
      if (!stream.closed) stream.disconnect('udp flow closed');
    });
    stream.onClosed(() => flow.destroy()); // also when the stream ended before we got here
    stream.resume();
  }

  /** Closes flows, the stack and the TUN (the kernel removes the link and its routes). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.disconnect('daemon quitting');
    this.dns?.close();
    this.stack?.close();
    this.tun.close();
    this.routes = [];
    this.recursionBySource.clear();
  }
}
