// Refuses routing a subnet that overlaps a route the machine already has (reference 3.8): traffic for it
// would silently go one way or the other. Default and /1 "half-default" routes (VPNs) are ignored, as are
// routes on our own TUN; a subnet covered by an allow-conflicting entry is let through.
import { covers, formatCidr, overlaps, type Cidr } from './cidr.js';
import { TpError } from '../util/errors.js';

export interface ExistingRoute {
  readonly dst: Cidr;
  readonly dev: string;
  /** How to show it to the user, e.g. `198.18.0.0/24 dev eth1 table main`. */
  readonly text: string;
}

export interface RouteConflict {
  readonly subnet: Cidr;
  readonly route: ExistingRoute;
}

export function findRouteConflicts(
  subnets: readonly Cidr[],
  routes: readonly ExistingRoute[],
  options: { allow: readonly Cidr[]; ownDevice?: string | undefined },
): RouteConflict[] {
  const conflicts: RouteConflict[] = [];
  for (const subnet of subnets) {
    if (options.allow.some((a) => covers(a, subnet))) continue;
    for (const route of routes) {
      if (route.dst.prefix <= 1) continue;
      if (options.ownDevice !== undefined && route.dev === options.ownDevice) continue;
      if (overlaps(subnet, route.dst)) conflicts.push({ subnet, route });
    }
  }
  return conflicts;
}

export function conflictError(conflicts: readonly RouteConflict[]): TpError {
  const first = conflicts[0];
  if (first === undefined) throw new Error('conflictError needs at least one conflict');
  const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
  return new TpError(
    'config',
    `subnet ${formatCidr(first.subnet)} overlaps with existing route "${first.route.text}"${more}`,
    { hint: `if that is intended, connect with --allow-conflicting-subnets ${formatCidr(first.subnet)}` },
  );
}
