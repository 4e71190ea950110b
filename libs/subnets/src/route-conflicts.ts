// Route conflict detection, as the Go original's router ValidateRoutes (reference 3.8), as a pure function
// over a route table snapshot so the caller decides how to read the OS table and how to report.
import { covers, equal, formatCidr, overlaps } from './cidr.js';
import type { Cidr } from './cidr.js';

/** One OS route: its destination network and the device it goes out on. */
export interface Route {
  readonly cidr: Cidr;
  readonly interface: string;
  /** Set when the OS flags the route as a default route even though its prefix isn't 0. */
  readonly isDefault?: boolean;
}

export interface RouteConflictOptions {
  /** Our own device(s), e.g. the TUN: routes on them are ours and never conflict. */
  readonly ownInterfaces?: readonly string[];
  /** allowConflictingSubnets: a subnet covered by one of these is never checked. */
  readonly allow?: readonly Cidr[];
}

/** A subnet we want to route that overlaps a route someone else owns. */
export interface RouteConflict {
  readonly subnet: Cidr;
  readonly route: Route;
}

/**
 * Every (subnet, route) pair where a subnet we want to route overlaps an existing route. Ignored:
 * - default routes (prefix 0 or flagged isDefault) and /1 half-default routes (OpenVPN's 0/1 + 128/1);
 * - routes on `ownInterfaces`;
 * - subnets covered by an `allow` entry, and subnets exactly equal to an existing (not-own) route, which
 *   is then already routed the way we want.
 * Returns [] when there is nothing to complain about. Order: by subnet, then by route, as given.
 */
export function findRouteConflicts(
  subnets: readonly Cidr[],
  routes: readonly Route[],
  options: RouteConflictOptions = {},
): RouteConflict[] {
  const own = new Set(options.ownInterfaces ?? []);
  const allow = options.allow ?? [];
  const others = routes.filter((r) => !own.has(r.interface));
  const relevant = others.filter((r) => !r.isDefault && r.cidr.prefix > 1);
  const conflicts: RouteConflict[] = [];
  for (const subnet of subnets) {
    if (allow.some((a) => covers(a, subnet))) continue;
    if (others.some((r) => equal(r.cidr, subnet))) continue;
    for (const route of relevant) {
      if (overlaps(subnet, route.cidr)) conflicts.push({ subnet, route });
    }
  }
  return conflicts;
}

/** `subnet 198.18.0.0/16 overlaps with existing route 198.18.5.0/24 on dev eth0`. */
export function formatRouteConflict(c: RouteConflict): string {
  return `subnet ${formatCidr(c.subnet)} overlaps with existing route ${formatCidr(c.route.cidr)} on dev ${c.route.interface}`;
}
