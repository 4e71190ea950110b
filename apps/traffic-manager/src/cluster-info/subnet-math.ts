// The CIDR maths the manager needs, on canonical CIDR strings ("198.18.1.0/24"), delegating to
// @telepresence/subnets. Strings keep the manager's state plain and easy to log and compare.
import {
  cidrToIpNet,
  compareCidrs,
  contains,
  coveringCidrs,
  formatCidr,
  parseCidr,
  parseIp,
  pruneCovered,
} from '@telepresence/subnets';

import type { IPNet } from '@telepresence/rpc';

export interface SubnetMath {
  /** Canonical form of a CIDR; throws a CidrError saying what is wrong. */
  parseCidr(text: string): string;
  containsIp(cidr: string, ip: string): boolean;
  /** Covering CIDRs of pod IPs (the original's CoveringCIDRs), sorted. */
  coveringCidrs(ips: Iterable<string>): string[];
  /** Sorted, with duplicates and subnets covered by another removed. */
  pruneCovered(cidrs: readonly string[]): string[];
  toIpNet(cidr: string): IPNet;
}

export const subnetMath: SubnetMath = {
  parseCidr: (text) => {
    if (!text.includes('/')) {
      throw new Error(`"${text}" is not a CIDR: add the prefix length, e.g. ${text}/24`);
    }
    return formatCidr(parseCidr(text.trim()));
  },
  containsIp: (cidr, ip) => {
    try {
      return contains(parseCidr(cidr), parseIp(ip));
    } catch {
      return false;
    }
  },
  coveringCidrs: (ips) => coveringCidrs(ips).map(formatCidr),
  pruneCovered: (cidrs) =>
    pruneCovered(cidrs.map((c) => parseCidr(c)))
      .sort(compareCidrs)
      .map(formatCidr),
  toIpNet: (cidr) => cidrToIpNet(parseCidr(cidr)),
};
