// The VIF's DNS address (reference 4.9): a /30 of its own on the TUN, so that DNS works even when no cluster
// subnet is routed and so that resolved sees a link with an address. The TUN gets .1, the OS is told to
// send DNS to .2, which the kernel routes into the TUN. Taken from 198.18.0.0/15 (RFC 2544, never a
// real network) from the top down, skipping anything that overlaps a routed subnet or a local route.
import { overlaps, parseCidr, type Cidr } from '@telepresence/subnets';

export interface DnsSubnet {
  /** e.g. 198.19.255.252/30 */
  readonly cidr: string;
  /** The TUN's own address with its prefix, e.g. 198.19.255.253/30. */
  readonly tunAddress: string;
  /** Where the OS sends DNS, e.g. 198.19.255.254. */
  readonly dnsAddress: string;
}

/** The highest free /30 of 198.18.0.0/15; throws when every one overlaps `avoid`. */
export function chooseDnsSubnet(avoid: readonly Cidr[]): DnsSubnet {
  const base = (198 << 24) | (18 << 16);
  const count = 1 << 15; // /30s in a /15
  for (let i = count - 1; i >= 0; i--) {
    const network = (base + i * 4) >>> 0;
    const octets = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
    const candidate = parseCidr(`${octets(network)}/30`);
    if (avoid.some((a) => overlaps(a, candidate))) continue;
    return {
      cidr: `${octets(network)}/30`,
      tunAddress: `${octets(network + 1)}/30`,
      dnsAddress: octets(network + 2),
    };
  }
  throw new Error(
    'no free /30 in 198.18.0.0/15 for the VIF DNS address: every one overlaps a routed subnet or local route',
  );
}
