// A TUN device opened through the addon: batches of packets in, batches of packets out.
import { loadNativeTun, type NativePoller } from './native.js';
import type { PacketBatch, PacketDevice } from '../device.js';
import { VNET_HDR_LEN } from '../ip/vnet-hdr.js';

const TUN_F_CSUM = 0x01;
const TUN_F_TSO = TUN_F_CSUM | 0x02 | 0x04; // with TSO4 and TSO6
/** Largest packet a TUN hands over: an IPv6 header plus a 64 KiB payload. */
const MAX_SUPER_SEGMENT = 65575;

export interface OpenTunOptions {
  /** Interface name or kernel template, e.g. `tel%d` (default). At most 15 characters. */
  name?: string;
  /** Largest packet read; must be >= the link MTU. Default 65575 (an IPv6 TSO super-segment). */
  maxPacket?: number;
  /**
   * Open with IFF_VNET_HDR and ask for checksum and TSO offloads (TUNSETOFFLOAD), as wireguard-go does:
   * the kernel then hands over 64 KiB TCP super-segments even at MTU 1500 and takes ours. Default true;
   * falls back to plain packets when the kernel refuses.
   */
  offload?: boolean;
  /** Packets read per callback at most. Default 64. */
  maxBatch?: number;
}

export class TunDevice implements PacketDevice {
  readonly name: string;
  readonly maxPacket: number;
  readonly vnetHdr: boolean;
  readonly receiveOffload: boolean;
  private fd: number;
  private poller: NativePoller | undefined;
  private readonly readMeta: Int32Array;

  private constructor(
    opened: { fd: number; name: string; vnetHdr: boolean },
    receiveOffload: boolean,
    maxPacket: number,
    maxBatch: number,
  ) {
    this.fd = opened.fd;
    this.name = opened.name;
    this.maxPacket = maxPacket;
    this.vnetHdr = opened.vnetHdr;
    this.receiveOffload = receiveOffload;
    this.readMeta = new Int32Array(maxBatch * 2);
  }

  /** Opens /dev/net/tun (IFF_TUN|IFF_NO_PI[|IFF_VNET_HDR], non-blocking). Throws a TunOpenError with a hint. */
  static open(options: OpenTunOptions = {}): TunDevice {
    const native = loadNativeTun();
    const want = options.name ?? 'tel%d';
    let opened: ReturnType<typeof native.open>;
    try {
      opened = native.open(want, options.offload ?? true);
    } catch (err) {
      throw explainOpenError(err, want);
    }
    // TSO super-segments do not respect the MTU: a shorter read would truncate them.
    const tso = (opened.offloads & TUN_F_TSO) === TUN_F_TSO;
    return new TunDevice(
      opened,
      tso,
      Math.max(options.maxPacket ?? MAX_SUPER_SEGMENT, tso ? MAX_SUPER_SEGMENT : 0),
      options.maxBatch ?? 64,
    );
  }

  /** Starts delivering packet batches; the batch is only valid during the call. */
  start(onBatch: (batch: PacketBatch) => void, onError: (err: Error) => void): void {
    if (this.fd < 0) throw new Error(`TUN ${this.name} is closed`);
    if (this.poller) return;
    const meta = this.readMeta;
    const native = loadNativeTun();
    const headerLen = this.vnetHdr ? VNET_HDR_LEN : 0;
    this.poller = new native.Poller(this.fd, meta, this.maxPacket, headerLen, (buffer, count, error) => {
      if (buffer && count > 0) onBatch({ buffer, meta, count });
      if (error) onError(new Error(`reading TUN ${this.name} failed: ${error}`));
    });
    this.poller.start();
  }

  writeBatch(buffer: Uint8Array, meta: Int32Array, count: number): number {
    if (this.fd < 0 || count === 0) return 0;
    return loadNativeTun().writePackets(this.fd, buffer, meta, count);
  }

  /** Stops polling first (so libuv never watches a closed fd), then closes; the kernel deletes the link. */
  close(): void {
    this.poller?.stop();
    this.poller = undefined;
    if (this.fd >= 0) loadNativeTun().closeFd(this.fd);
    this.fd = -1;
  }
}

export class TunOpenError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TunOpenError';
  }
}

function explainOpenError(err: unknown, name: string): Error {
  const code = (err as { code?: string }).code ?? 'UNKNOWN';
  const base = (err as Error).message;
  switch (code) {
    case 'ENOENT':
    case 'ENODEV':
      return new TunOpenError(
        `cannot open TUN device: /dev/net/tun is missing (${base}); load the tun module (modprobe tun) or, in a container, pass --device /dev/net/tun`,
        code,
      );
    case 'EPERM':
    case 'EACCES':
      return new TunOpenError(
        `cannot create TUN device '${name}': permission denied (${base}); run as root or grant CAP_NET_ADMIN`,
        code,
      );
    case 'EBUSY':
      return new TunOpenError(
        `cannot create TUN device '${name}': the name is in use by another device`,
        code,
      );
    default:
      return new TunOpenError(`cannot create TUN device '${name}': ${base}`, code);
  }
}
