// Refuses routing a subnet that overlaps a route the machine already has (reference 3.8): traffic for it
// would silently go one way or the other. The overlap rules (default and /1 routes ignored, our own TUN
// ignored, allow-conflicting entries, exact duplicates) live in @telepresence/subnets; this file turns the
// result into the user's error.
import { formatCidr, formatRouteConflict, type Route, type RouteConflict } from '@telepresence/subnets';
import { TpError } from '../util/errors.js';

/** A kernel route, with how to show it to the user (e.g. `198.18.0.0/24 dev eth1 table 100`). */
export interface ExistingRoute extends Route {
  readonly text: string;
}

export function conflictError(conflicts: readonly RouteConflict[]): TpError {
  const first = conflicts[0];
  if (first === undefined) throw new Error('conflictError needs at least one conflict');
  const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
  const text = (first.route as Partial<ExistingRoute>).text;
  const message =
    text === undefined
      ? formatRouteConflict(first)
      : `subnet ${formatCidr(first.subnet)} overlaps with existing route "${text}"`;
  return new TpError('config', `${message}${more}`, {
    hint: `if that is intended, connect with --allow-conflicting-subnets ${formatCidr(first.subnet)}`,
  });
}
