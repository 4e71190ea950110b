// Public API of @telepresence/subnets: CIDR maths for IPv4 and IPv6. Explicit exports only.
export { CidrError } from './errors.js';
export type { CidrErrorKind } from './errors.js';
export {
  familyBits,
  formatIp,
  ipFromBytes,
  ipTextFromBytes,
  ipTextToBytes,
  ipToBytes,
  isLoopbackIp,
  parseIp,
} from './ip.js';
export type { IpAddress, IpFamily } from './ip.js';
export {
  cidrFromIpNet,
  cidrOfIp,
  cidrToIpNet,
  compareCidrs,
  contains,
  covers,
  equal,
  firstIp,
  formatCidr,
  hostMask,
  isLoopback,
  lastIp,
  makeCidr,
  overlaps,
  parseCidr,
  size,
} from './cidr.js';
export type { Cidr, IpNet } from './cidr.js';
export { pruneCovered } from './prune.js';
export { coveringCidrs } from './covering.js';
export type { IpInput } from './covering.js';
export { tightCoveringCidrs } from './tight-covering.js';
export { subtract, subtractAll } from './subtract.js';
export { findRouteConflicts, formatRouteConflict } from './route-conflicts.js';
export type { Route, RouteConflict, RouteConflictOptions } from './route-conflicts.js';
