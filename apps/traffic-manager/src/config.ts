// The manager's settings, parsed once from the environment the chart sets (see charts/telepresence
// values.yaml for the values behind each variable). main.ts is the only caller with the real process.env.
import { isIP } from 'node:net';

import {
  MAX_WINDOW_BYTES,
  MIN_WINDOW_BYTES,
  TUNNEL_CONNECTION_WINDOW_BYTES,
  TUNNEL_STREAM_WINDOW_BYTES,
} from '@telepresence/tunnel';

import type { SubnetMath } from './cluster-info/subnet-math.js';
import { parseDurationMs, parseSizeBytes, splitList } from './util/units.js';

export type PodCidrStrategy = 'auto' | 'nodePodCIDRs' | 'coverPodIPs' | 'environment';

const strategies: readonly PodCidrStrategy[] = ['auto', 'nodePodCIDRs', 'coverPodIPs', 'environment'];
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface ManagerConfig {
  readonly logLevel: LogLevel;
  /** gRPC API listen address and port (SERVER_HOST, SERVER_PORT). */
  readonly serverHost: string;
  readonly serverPort: number;
  /** Prometheus /metrics port (METRICS_PORT); 0 disables the metrics server. */
  readonly metricsPort: number;
  readonly podIp: string;
  readonly podName: string;
  readonly namespace: string;
  readonly podCidrStrategy: PodCidrStrategy;
  /** POD_CIDRS, canonical; required and used only with the `environment` strategy. */
  readonly podCidrs: readonly string[];
  /** SERVICE_CIDR: skips service subnet discovery when set. */
  readonly serviceCidr: string | undefined;
  /** CLUSTER_DOMAIN: overrides the one read from /etc/resolv.conf. */
  readonly clusterDomain: string | undefined;
  readonly clientSessionTtlMs: number;
  readonly agentSessionTtlMs: number;
  /** Delay that coalesces bursts of node/pod changes into one ClusterInfo update. */
  readonly subnetDebounceMs: number;
  /** How long LookupDNS waits for agents before answering with what it has (or resolving itself). */
  readonly agentDnsTimeoutMs: number;
  /** How long a single manager-side DNS query may take. */
  readonly dnsTimeoutMs: number;
  /** DNS servers for manager-side lookups ("ip" or "ip:port"); empty = the pod's /etc/resolv.conf. */
  readonly dnsServers: readonly string[];
  readonly grpcMaxReceiveBytes: number;
  /** HTTP/2 receive windows of the gRPC server (libs/tunnel flow-control.ts says what each bounds). */
  readonly tunnelWindows: { readonly streamWindowBytes: number; readonly connectionWindowBytes: number };
  readonly routing: {
    readonly alsoProxySubnets: readonly string[];
    readonly neverProxySubnets: readonly string[];
    readonly allowConflictingSubnets: readonly string[];
  };
  readonly dns: { readonly includeSuffixes: readonly string[]; readonly excludeSuffixes: readonly string[] };
}

/** Every problem found in the environment, one per line, so a bad chart value is fixed in one go. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid traffic-manager configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function parseConfig(env: Env, subnets: SubnetMath): ManagerConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  function parse<T>(name: string, fallback: T, fn: (s: string) => T): T {
    const v = get(name);
    if (v === undefined) return fallback;
    try {
      return fn(v);
    } catch (e) {
      problems.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      return fallback;
    }
  }
  const port = (s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`"${s}" is not a port number (0-65535)`);
    return n;
  };
  const window = (s: string): number => {
    const n = parseSizeBytes(s);
    if (n < MIN_WINDOW_BYTES || n > MAX_WINDOW_BYTES)
      throw new Error(`"${s}" is not an HTTP/2 window (${MIN_WINDOW_BYTES} to ${MAX_WINDOW_BYTES} bytes)`);
    return n;
  };
  const cidrs = (s: string): string[] => splitList(s).map((c) => subnets.parseCidr(c));
  const suffixes = (s: string): string[] => splitList(s);

  const logLevel = parse<LogLevel>('LOG_LEVEL', 'info', (s) => {
    const l = s.toLowerCase();
    if (!(logLevels as readonly string[]).includes(l))
      throw new Error(`"${s}" is not one of ${logLevels.join(', ')}`);
    return l as LogLevel;
  });
  const podIp = get('POD_IP');
  if (podIp === undefined || isIP(podIp) === 0) {
    problems.push(
      `POD_IP: ${podIp === undefined ? 'not set' : `"${podIp}" is not an IP address`}; the chart sets it from status.podIP`,
    );
  }
  const namespace = get('POD_NAMESPACE');
  if (namespace === undefined) {
    problems.push('POD_NAMESPACE: not set; the chart sets it from metadata.namespace');
  }
  const podCidrStrategy = parse<PodCidrStrategy>('POD_CIDR_STRATEGY', 'auto', (s) => {
    const found = strategies.find((k) => k.toLowerCase() === s.toLowerCase());
    if (found === undefined) throw new Error(`"${s}" is not one of ${strategies.join(', ')}`);
    return found;
  });
  const podCidrs = parse('POD_CIDRS', [], cidrs);
  if (podCidrStrategy === 'environment' && podCidrs.length === 0 && get('POD_CIDRS') === undefined) {
    problems.push(
      'POD_CIDRS: podCIDRStrategy "environment" needs the chart value podCIDRs (a list of CIDRs)',
    );
  }
  const positive = (s: string): number => {
    const ms = parseDurationMs(s);
    if (ms <= 0) throw new Error(`"${s}" must be greater than zero`);
    return ms;
  };

  const config: ManagerConfig = {
    logLevel,
    serverHost: get('SERVER_HOST') ?? '0.0.0.0',
    serverPort: parse('SERVER_PORT', 8081, port),
    metricsPort: parse('METRICS_PORT', 9464, port),
    podIp: podIp ?? '',
    podName: get('POD_NAME') ?? 'traffic-manager',
    namespace: namespace ?? '',
    podCidrStrategy,
    podCidrs,
    serviceCidr: parse<string | undefined>('SERVICE_CIDR', undefined, (s) => subnets.parseCidr(s)),
    clusterDomain: parse<string | undefined>('CLUSTER_DOMAIN', undefined, (s) =>
      s.replace(/\.+$/, '').toLowerCase(),
    ),
    clientSessionTtlMs: parse('CLIENT_CONNECTION_TTL', 24 * 3_600_000, positive),
    agentSessionTtlMs: parse('AGENT_SESSION_TTL', 15_000, positive),
    subnetDebounceMs: parse('SUBNET_DEBOUNCE', 500, parseDurationMs),
    agentDnsTimeoutMs: parse('AGENT_DNS_TIMEOUT', 1000, positive),
    dnsTimeoutMs: parse('DNS_TIMEOUT', 4000, positive),
    dnsServers: parse('DNS_SERVERS', [], splitList),
    grpcMaxReceiveBytes: parse('GRPC_MAX_RECEIVE_SIZE', 4 * 1024 * 1024, parseSizeBytes),
    tunnelWindows: {
      streamWindowBytes: parse('GRPC_STREAM_WINDOW', TUNNEL_STREAM_WINDOW_BYTES, window),
      connectionWindowBytes: parse('GRPC_CONNECTION_WINDOW', TUNNEL_CONNECTION_WINDOW_BYTES, window),
    },
    routing: {
      alsoProxySubnets: parse('CLIENT_ROUTING_ALSO_PROXY_SUBNETS', [], cidrs),
      neverProxySubnets: parse('CLIENT_ROUTING_NEVER_PROXY_SUBNETS', [], cidrs),
      allowConflictingSubnets: parse('CLIENT_ROUTING_ALLOW_CONFLICTING_SUBNETS', [], cidrs),
    },
    dns: {
      includeSuffixes: parse('CLIENT_DNS_INCLUDE_SUFFIXES', [], suffixes),
      // Set but empty means "exclude nothing"; unset means the original's default list.
      excludeSuffixes:
        env['CLIENT_DNS_EXCLUDE_SUFFIXES'] === undefined
          ? ['.com', '.io', '.net', '.org', '.ru']
          : splitList(env['CLIENT_DNS_EXCLUDE_SUFFIXES']),
    },
  };
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return config;
}
