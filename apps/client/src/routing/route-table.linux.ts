// The kernel's route table: reads its routes (all tables, both families) with `ip -j`, for the conflict
// check, and adds and deletes our TUN's routes over netlink.
import { linkConfig } from '@telepresence/netstack';
import { parseCidr, type Cidr } from '@telepresence/subnets';
import type { ExistingRoute } from './conflicts.js';
import type { RouteTable } from './route-table.js';
import type { Run } from '../util/exec.js';

interface IpRouteJson {
  type?: string;
  dst?: string;
  dev?: string;
  gateway?: string;
  table?: string;
}

/** Route types that carry traffic somewhere; broadcast/multicast/anycast entries are bookkeeping. */
const IGNORED_TYPES = new Set(['broadcast', 'multicast', 'anycast']);

export function parseIpRouteJson(json: string, family: 4 | 6): ExistingRoute[] {
  const rows = JSON.parse(json === '' ? '[]' : json) as IpRouteJson[];
  const routes: ExistingRoute[] = [];
  for (const row of rows) {
    if (row.type !== undefined && IGNORED_TYPES.has(row.type)) continue;
    if (row.dst === undefined || row.dst === 'default') continue;
    let dst: Cidr;
    try {
      dst = parseCidr(row.dst);
    } catch {
      continue; // not an address we understand (e.g. a named prefix); cannot overlap ours
    }
    if (dst.family !== family) continue;
    if (family === 6 && (row.dst.startsWith('fe80:') || row.dst.startsWith('ff00:'))) continue;
    const parts = [row.type !== undefined && row.type !== 'unicast' ? `${row.type} ${row.dst}` : row.dst];
    if (row.gateway !== undefined) parts.push(`via ${row.gateway}`);
    if (row.dev !== undefined) parts.push(`dev ${row.dev}`);
    if (row.table !== undefined && row.table !== 'main') parts.push(`table ${row.table}`);
    routes.push({ cidr: dst, interface: row.dev ?? '', text: parts.join(' ') });
  }
  return routes;
}

export async function readRoutes(run: Run): Promise<ExistingRoute[]> {
  const [v4, v6] = await Promise.all([
    run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']),
    run('ip', ['-j', '-6', 'route', 'show', 'table', 'all']).catch(() => '[]'), // IPv6 may be disabled
  ]);
  return [...parseIpRouteJson(v4, 4), ...parseIpRouteJson(v6, 6)];
}

export function linuxRouteTable(run: Run): RouteTable {
  return {
    read: () => readRoutes(run),
    add: (link, cidr) => linkConfig.addRoute({ link }, cidr),
    delete: (link, cidr) => linkConfig.deleteRoute({ link }, cidr),
  };
}
