// Link configuration through iproute2 (`ip`): the only module that changes a link's address, MTU, state
// and routes. Every command can target a network namespace.
import { run } from '@telepresence/exec';

export interface LinkTarget {
  /** Link name, e.g. `tel0`. */
  link: string;
  /** Network namespace to run in (`ip -n NS`); default: the current one. */
  netns?: string;
}

async function ip(target: LinkTarget, args: string[]): Promise<void> {
  const full = target.netns ? ['-n', target.netns, ...args] : args;
  await run('ip', full, { timeoutMs: 10_000 });
}

export async function setMtu(t: LinkTarget, mtu: number): Promise<void> {
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535)
    throw new RangeError(`MTU ${mtu} is out of range: use 1280..65535`);
  await ip(t, ['link', 'set', 'dev', t.link, 'mtu', String(mtu)]);
}

/**
 * Packets the kernel queues for the TUN before dropping. The default (500) overflows while the stack is
 * busy in JS; drops cost a retransmission round, so a deeper queue is cheaper.
 */
export async function setTxQueueLength(t: LinkTarget, packets: number): Promise<void> {
  await ip(t, ['link', 'set', 'dev', t.link, 'txqueuelen', String(packets)]);
}

export async function setUp(t: LinkTarget): Promise<void> {
  await ip(t, ['link', 'set', 'dev', t.link, 'up']);
}

/** Adds an interface address (CIDR). IPv6 addresses skip duplicate address detection. */
export async function addAddress(t: LinkTarget, cidr: string): Promise<void> {
  const v6 = cidr.includes(':');
  await ip(t, [...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', t.link, ...(v6 ? ['nodad'] : [])]);
}

export async function addRoute(t: LinkTarget, cidr: string): Promise<void> {
  await ip(t, [...(cidr.includes(':') ? ['-6'] : []), 'route', 'replace', cidr, 'dev', t.link]);
}

export async function deleteRoute(t: LinkTarget, cidr: string): Promise<void> {
  await ip(t, [...(cidr.includes(':') ? ['-6'] : []), 'route', 'del', cidr, 'dev', t.link]);
}

/** Moves the link into another namespace; an open TUN fd keeps working. */
export async function moveToNetns(t: LinkTarget, netns: string): Promise<void> {
  await ip(t, ['link', 'set', 'dev', t.link, 'netns', netns]);
}
