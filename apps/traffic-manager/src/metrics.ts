// Prometheus metrics on a registry of their own (never prom-client's global one), served by metrics-server.ts.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

import type { SessionRegistry } from './sessions/session-registry.js';

export type DialResult = 'ok' | 'refused' | 'unreachable' | 'timeout' | 'error' | 'agent' | 'agent-timeout';
export type DnsResult = 'noerror' | 'nxdomain' | 'nodata' | 'servfail' | 'notimp' | 'agents';

export interface ManagerMetrics {
  readonly registry: Registry;
  readonly tunnelsActive: Gauge;
  /** direction: "from_client" (workstation -> cluster) or "to_client". */
  readonly tunnelBytes: Counter<'direction'>;
  readonly dials: Counter<'result'>;
  readonly dnsLookups: Counter<'result'>;
}

export function createMetrics(
  sessions: () => SessionRegistry | undefined,
  options: { defaultMetrics?: boolean } = {},
): ManagerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'traffic_manager_' });
  }
  new Gauge({
    name: 'traffic_manager_sessions',
    help: 'Live sessions by kind (client or agent)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const s = sessions();
      this.set({ kind: 'client' }, s?.count('client') ?? 0);
      this.set({ kind: 'agent' }, s?.count('agent') ?? 0);
    },
  });
  return {
    registry,
    tunnelsActive: new Gauge({
      name: 'traffic_manager_tunnels_active',
      help: 'Tunnel streams open now',
      registers: [registry],
    }),
    tunnelBytes: new Counter({
      name: 'traffic_manager_tunnel_bytes_total',
      help: 'Payload bytes through tunnels, by direction seen from the client',
      labelNames: ['direction'],
      registers: [registry],
    }),
    dials: new Counter({
      name: 'traffic_manager_dials_total',
      help: 'Connection dials for tunnels, by result (agent: handed to an agent)',
      labelNames: ['result'],
      registers: [registry],
    }),
    dnsLookups: new Counter({
      name: 'traffic_manager_dns_lookups_total',
      help: 'LookupDNS calls by result (agents: answered by intercepting agents)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
