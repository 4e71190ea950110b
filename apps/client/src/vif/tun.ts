// The TUN device as the VIF sees it: a packet device for libs/netstack plus the link settings the VIF
// makes. Linux: tun.linux.ts; unit tests: testing/memory-tun.ts. (Routes: routing/route-table.ts.)
import type { PacketDevice } from '@telepresence/netstack';

export interface Tun {
  /** The kernel's name for it (a `tel%d` template resolved). */
  readonly name: string;
  readonly device: PacketDevice;
  /** Sets the MTU and the transmit queue length, then brings the link up. */
  bringUp(mtu: number, txQueueLength: number): Promise<void>;
  addAddress(cidr: string): Promise<void>;
  ifindex(): Promise<number>;
  /** Closes the device; the kernel removes the link and its routes with it. */
  close(): void;
}

/** Opens a TUN named after `namePattern` (e.g. `tel%d`). */
export type OpenTun = (namePattern: string) => Tun;
