// The UDP side of the DNS server behind one small interface, and the one place that picks how it is done:
// the batched native transport on Linux (recvmmsg/sendmmsg, one JS call per batch) or node:dgram.
import { openDgramEndpoint } from './dgram-endpoint.js';
import { loadNativeUdp } from './native-addon.js';
import type { NativeUdp } from './native-addon.js';
import { openNativeEndpoint } from './native-endpoint.js';
import type {
  UdpEndpoint,
  UdpEndpointOptions,
  UdpHandler,
  UdpTransportChoice,
  UdpTransportKind,
} from './types.js';

/**
 * Which transport `choice` gives on this machine for `address`, and why. `load` is for tests. A scoped IPv6
 * address ("fe80::1%eth0") stays on node:dgram, which resolves the scope; the addon binds plain addresses.
 */
export function selectUdpTransport(
  choice: UdpTransportChoice = 'auto',
  { address = '', load = loadNativeUdp }: { address?: string; load?: () => NativeUdp | Error } = {},
): { kind: UdpTransportKind; reason: string } {
  if (choice === 'dgram') return { kind: 'dgram', reason: 'asked for' };
  const native = address.includes('%')
    ? new Error(`the batched UDP transport does not bind scoped addresses (${address})`)
    : load();
  if (!(native instanceof Error)) return { kind: 'native', reason: 'recvmmsg/sendmmsg addon loaded' };
  if (choice === 'native')
    throw new Error(`dns server: cannot use the native UDP transport: ${native.message}`);
  return { kind: 'dgram', reason: native.message };
}

/** Binds address:port with the transport selectUdpTransport(choice) gives. Throws the bind error as is. */
export async function openUdpEndpoint(
  options: UdpEndpointOptions,
  handler: UdpHandler,
  choice: UdpTransportChoice = 'auto',
): Promise<UdpEndpoint> {
  const { kind, reason } = selectUdpTransport(choice, { address: options.address });
  if (
    kind === 'dgram' &&
    choice === 'auto' &&
    process.platform === 'linux' &&
    !options.address.includes('%')
  ) {
    options.log.info({ reason }, 'dns udp: the batched transport is unavailable, using node:dgram');
  }
  return kind === 'native' ? openNativeEndpoint(options, handler) : openDgramEndpoint(options, handler);
}
