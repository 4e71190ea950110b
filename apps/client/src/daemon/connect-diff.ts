// `connect` while connected: the flags of the new request against the active session's. A flag the new
// request leaves out (empty) asks for nothing; one it gives with another value is a difference, which
// connect reports instead of silently keeping the old settings (issue 18 item 5).
import type { daemon } from '@telepresence/rpc';

import { TpError } from '../util/errors.js';

type Scalar = 'namespace' | 'managerNamespace' | 'context' | 'kubeconfig' | 'managerAddress' | 'dns';
type List =
  | 'alsoProxy'
  | 'neverProxy'
  | 'allowConflictingSubnets'
  | 'mappedNamespaces'
  | 'dnsIncludeSuffixes'
  | 'dnsExcludeSuffixes';

const SCALARS: ReadonlyArray<[Scalar, string]> = [
  ['namespace', '--namespace'],
  ['managerNamespace', '--manager-namespace'],
  ['context', '--context'],
  ['kubeconfig', '--kubeconfig'],
  ['managerAddress', '--manager-address'],
  ['dns', '--dns'],
];
const LISTS: ReadonlyArray<[List, string]> = [
  ['alsoProxy', '--also-proxy'],
  ['neverProxy', '--never-proxy'],
  ['allowConflictingSubnets', '--allow-conflicting-subnets'],
  ['mappedNamespaces', '--mapped-namespaces'],
  ['dnsIncludeSuffixes', '--dns-include-suffix'],
  ['dnsExcludeSuffixes', '--dns-exclude-suffix'],
];

const shown = (list: readonly string[]): string => (list.length === 0 ? 'none' : list.join(','));
const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * One phrase per difference, e.g. `--namespace is "default" (asked: "other")`. `active` holds the values
 * in effect where the request left them to defaults (the resolved namespace).
 */
export function connectDifferences(active: daemon.ConnectRequest, asked: daemon.ConnectRequest): string[] {
  const out: string[] = [];
  for (const [key, flag] of SCALARS) {
    if (asked[key] !== '' && asked[key] !== active[key])
      out.push(`${flag} is "${active[key] || '(default)'}" (asked: "${asked[key]}")`);
  }
  for (const [key, flag] of LISTS) {
    if (asked[key].length > 0 && !sameSet(asked[key], active[key]))
      out.push(`${flag} is ${shown(active[key])} (asked: ${shown(asked[key])})`);
  }
  if (asked.configYaml !== active.configYaml)
    out.push('the config file changed since this connection was made');
  return out;
}

/** The error connect fails with when the new flags differ from the active connection's. */
export function alreadyConnectedError(differences: readonly string[]): TpError {
  return new TpError(
    'user',
    `already connected with other settings: ${differences.join('; ')}; nothing was changed`,
    { hint: 'run telepresence quit, then connect with the new settings' },
  );
}
