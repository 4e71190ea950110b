// Everything the CLI prints: human text (default) or JSON (--output json). Pure functions; the commands
// hand the strings to their stdout/stderr.
import type { daemon } from '@telepresence/rpc';
import { TpError, errorLine, type ErrorCategory } from '../util/errors.js';

export type OutputFormat = 'human' | 'json';

export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'human' || value === 'default') return 'human';
  if (value === 'json') return 'json';
  throw new TpError('user', `unknown output format "${value}"`, {
    hint: 'use --output json, or leave it out',
  });
}

/** The daemon sends errors as "category\tmessage\thint". */
export function errorFromDaemon(text: string): TpError {
  const [category = 'internal', message = text, hint = ''] = text.split('\t');
  const known: readonly ErrorCategory[] = ['user', 'config', 'cluster', 'internal'];
  return new TpError(
    known.includes(category as ErrorCategory) ? (category as ErrorCategory) : 'internal',
    message,
    { hint },
  );
}

export function formatError(command: string, err: TpError, logFile: string, format: OutputFormat): string {
  if (format === 'json') {
    return JSON.stringify({ error: { category: err.category, message: err.message, hint: err.hint } });
  }
  let line = `telepresence ${command}: ${errorLine(err)}`;
  if (err.category === 'internal' && logFile !== '') line += ` (details in ${logFile})`;
  return line;
}

export function formatProgress(step: string): string {
  return `  ${step}...`;
}

export interface StatusJson {
  connected: boolean;
  sessionId?: string;
  managerVersion?: string;
  namespace?: string;
  managerNamespace?: string;
  tun?: string;
  routedSubnets?: string[];
  neverProxiedSubnets?: string[];
  dns?: {
    mode: string;
    /** Why this DNS mechanism was chosen (the probe's one line). */
    probeReason: string;
    localAddress: string;
    upstream: string;
    clusterDomain: string;
    includeSuffixes: string[];
    excludeSuffixes: string[];
    mappedNamespaces: string[];
    mappedNamespacesReason: string;
    recursionCheck: string;
  };
  counters?: daemon.Counters;
  intercepts?: daemon.InterceptLine[];
  credentials?: daemon.CredentialStatus;
  outage?: string;
  logFile: string;
}

export function statusJson(s: daemon.StatusResponse): StatusJson {
  if (!s.connected) return { connected: false, logFile: s.logFile };
  return {
    connected: true,
    sessionId: s.sessionId,
    managerVersion: s.managerVersion,
    namespace: s.namespace,
    managerNamespace: s.managerNamespace,
    tun: s.tunName,
    routedSubnets: s.routedSubnets,
    neverProxiedSubnets: s.neverProxiedSubnets,
    ...(s.dns
      ? {
          dns: {
            mode: s.dns.mode,
            probeReason: s.dns.probeReason,
            localAddress: s.dns.localAddress,
            upstream: s.dns.upstream,
            clusterDomain: s.dns.clusterDomain,
            includeSuffixes: s.dns.includeSuffixes,
            excludeSuffixes: s.dns.excludeSuffixes,
            mappedNamespaces: s.dns.mappedNamespaces,
            mappedNamespacesReason: s.dns.mappedNamespacesReason,
            recursionCheck: s.dns.recursion?.dns ?? '',
          },
        }
      : {}),
    ...(s.counters ? { counters: s.counters } : {}),
    intercepts: s.intercepts,
    ...(s.credentials ? { credentials: s.credentials } : {}),
    outage: s.outage,
    logFile: s.logFile,
  };
}

const list = (items: readonly string[]): string => (items.length === 0 ? '(none)' : items.join(', '));

export function formatStatus(s: daemon.StatusResponse, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(statusJson(s), null, 2);
  if (!s.connected) {
    return ['Not connected', ...(s.logFile !== '' ? [`  Daemon log:        ${s.logFile}`] : [])].join('\n');
  }
  const c = s.counters;
  const lines = [
    s.outage === '' ? 'Connected' : `Connected, with an outage: ${s.outage}`,
    `  Session:           ${s.sessionId}`,
    `  Namespace:         ${s.namespace}`,
    `  Traffic-manager:   ${s.managerVersion || '(unknown version)'}${s.managerNamespace ? ` in namespace ${s.managerNamespace}` : ''}`,
    `  Network interface: ${s.tunName}`,
    `  Routed subnets:    ${list(s.routedSubnets)}`,
    `  Never proxied:     ${list(s.neverProxiedSubnets)}`,
  ];
  if (s.dns) {
    lines.push(
      `  DNS:               ${s.dns.mode} resolver on ${s.dns.localAddress}, other names to ${s.dns.upstream}`,
      ...(s.dns.probeReason === '' ? [] : [`  DNS chosen:        ${s.dns.probeReason}`]),
      `  Cluster domain:    ${s.dns.clusterDomain}`,
      `  Mapped namespaces: ${list(s.dns.mappedNamespaces)}${s.dns.mappedNamespacesReason === '' ? '' : ` (${s.dns.mappedNamespacesReason})`}`,
      `  Recursion check:   ${s.dns.recursion?.dns ?? 'not-yet'}`,
    );
  }
  if (c) {
    lines.push(
      `  Flows:             ${c.flowsOpen} open, ${c.flowsTotal} total, ${c.bytesOut} bytes out, ${c.bytesIn} bytes in`,
      `  DNS queries:       ${c.dnsQueries} (${c.dnsCacheHits} from cache)`,
    );
  }
  lines.push(...interceptLines(s.intercepts));
  if (s.credentials) lines.push(credentialLine(s.credentials));
  lines.push(`  Daemon log:        ${s.logFile}`);
  return lines.join('\n');
}

/** Where the Kubernetes credential comes from, when it expires and is refreshed, or what is wrong. */
export function credentialLine(c: daemon.CredentialStatus): string {
  const parts = [c.source];
  if (c.expiresAt !== '') parts.push(`expires ${c.expiresAt}`);
  if (c.nextRefresh !== '') parts.push(`refreshed next ${c.nextRefresh}`);
  if (c.source === 'exec plugin') parts.push(`${c.refreshes} refreshes so far`);
  if (c.problem !== '') parts.push(`PROBLEM: ${c.problem}`);
  return `  Credentials:       ${parts.join(', ')}`;
}

/** One line per intercept: name, workload and namespace, port mapping, state (and why, when not active). */
export function interceptLines(intercepts: readonly daemon.InterceptLine[]): string[] {
  if (intercepts.length === 0) return ['  Intercepts:        (none)'];
  return [
    `  Intercepts:        ${intercepts.length}`,
    ...intercepts.map((i) => {
      const ports = i.localOnly
        ? 'local-only, nothing redirected'
        : `${i.servicePort === '' ? 'service port' : `port ${i.servicePort}`} -> 127.0.0.1:${i.localPort}`;
      const why = i.message === '' ? '' : ` (${i.message})`;
      return `    ${i.name}: ${i.namespace}/${i.workload}, ${ports}, ${i.state}${why}`;
    }),
  ];
}

export function formatConnected(s: daemon.StatusResponse, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(statusJson(s), null, 2);
  return [
    `Connected to namespace ${s.namespace} (session ${s.sessionId})`,
    `  Routed subnets: ${list(s.routedSubnets)}`,
    ...(s.dns ? [`  DNS:            ${s.dns.mode} resolver, other names to ${s.dns.upstream}`] : []),
  ].join('\n');
}
