import {
  hasLabel,
  hasLabelSuffix,
  isSingleLabel,
  normalizeDomain,
  SEARCH_MARKER,
  stripLabelSuffix,
} from './names.js';

/**
 * What decides which names go to the cluster. All names are case-insensitive and may be given with or
 * without leading/trailing dots. Updated at run time with `DnsServer.updateConfig()`.
 */
export interface DnsRoutingConfig {
  /** The cluster domain, e.g. "cluster.local". */
  readonly clusterDomain: string;
  /** The connected namespace: a search entry, so "echo.<ns>" goes to the cluster. */
  readonly connectedNamespace?: string;
  /** Mapped namespaces: "x.<ns>" goes to the cluster (routes, reference 4.3 rule 6). */
  readonly mappedNamespaces?: readonly string[];
  /** Names under these go to the cluster, also over a shorter-or-equal exclude suffix. */
  readonly includeSuffixes?: readonly string[];
  /** Names under these never go to the cluster unless an include suffix at least as long matches. */
  readonly excludeSuffixes?: readonly string[];
  /** Exact names never sent to the cluster ("echo" also excludes "echo.<search entry>"). */
  readonly excludes?: readonly string[];
  /** More search entries after the marker and the connected namespace. */
  readonly searchPath?: readonly string[];
  /**
   * More suffixes stripped from queries before anything else (the Linux overriding resolver passes the
   * search domains of resolv.conf here). `tel2-search` is always stripped.
   */
  readonly dropSuffixes?: readonly string[];
}

export type RouteRule =
  | 'wpad'
  | 'exclude'
  | 'single-label'
  | 'exclude-suffix'
  | 'search-path'
  | 'namespace'
  | 'svc'
  | 'cluster-domain'
  | 'include-suffix'
  | 'recursion-check'
  | 'no-rule';

/** One routing decision: where a name goes and the rule (plus the matching entry) that decided it. */
export interface RouteDecision {
  readonly name: string;
  readonly toCluster: boolean;
  readonly rule: RouteRule;
  /** The list entry that matched (the suffix, namespace, exclude...), when a list decided. */
  readonly match?: string;
}

/** The normalized configuration the router and the server work with. */
export interface NormalizedDnsConfig {
  readonly clusterDomain: string;
  readonly connectedNamespace: string | undefined;
  readonly routes: readonly string[];
  readonly includeSuffixes: readonly string[];
  readonly excludeSuffixes: readonly string[];
  readonly excludes: ReadonlySet<string>;
  readonly search: readonly string[];
  readonly dropSuffixes: readonly string[];
}

/** The name the client looks up through the OS to run the recursion check (reference 4.7). */
export const RECURSION_CHECK_NAME = 'tel2-recursion-check.kube-system';

const RECURSION_CHECK_PATTERN = /^tel2-recursion-check(-[0-9a-f]+)?(\.|$)/;

/**
 * True for the probe and for the names the server asks the cluster during the check
 * ("tel2-recursion-check-<token>.kube-system", possibly with a search suffix the cluster appended).
 * Such names go to the cluster only, never to the fallback.
 */
export function isRecursionCheckName(name: string): boolean {
  return RECURSION_CHECK_PATTERN.test(name);
}

function uniqueNormalized(list: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const entry of list ?? []) {
    const n = normalizeDomain(entry);
    if (n !== '' && !out.includes(n)) out.push(n);
  }
  return out;
}

/** Validates and normalizes a configuration; throws a TypeError naming the bad entry. */
export function normalizeDnsConfig(config: DnsRoutingConfig): NormalizedDnsConfig {
  const clusterDomain = normalizeDomain(config.clusterDomain);
  if (clusterDomain === '') {
    throw new TypeError('dns config: clusterDomain is empty; pass the cluster domain, e.g. "cluster.local"');
  }
  const check = (what: string, list: readonly string[]) => {
    for (const entry of list) {
      if (!/^[a-z0-9_*-]+(\.[a-z0-9_*-]+)*$/.test(entry)) {
        throw new TypeError(
          `dns config: ${what} entry "${entry}" is not a domain name (letters, digits, "-", "_" and dots)`,
        );
      }
    }
    return list;
  };
  const excludeSuffixes = check('excludeSuffixes', uniqueNormalized(config.excludeSuffixes));
  const connectedNamespace =
    config.connectedNamespace === undefined
      ? undefined
      : normalizeDomain(config.connectedNamespace) || undefined;
  // Namespaces that are themselves excluded as suffixes are no routes (reference 4.3 rule 6).
  const namespaces = check('mappedNamespaces', uniqueNormalized(config.mappedNamespaces)).filter(
    (ns) => !excludeSuffixes.includes(ns),
  );
  return {
    clusterDomain,
    connectedNamespace,
    routes: [...namespaces, ...(namespaces.includes('svc') ? [] : ['svc'])],
    includeSuffixes: check('includeSuffixes', uniqueNormalized(config.includeSuffixes)),
    excludeSuffixes,
    excludes: new Set(uniqueNormalized(config.excludes)),
    search: uniqueNormalized([
      SEARCH_MARKER,
      ...(connectedNamespace ? [connectedNamespace] : []),
      ...(config.searchPath ?? []),
    ]),
    dropSuffixes: uniqueNormalized([SEARCH_MARKER, ...(config.dropSuffixes ?? [])]),
  };
}

function firstSuffix(name: string, suffixes: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of suffixes) {
    if (hasLabelSuffix(name, s) && (best === undefined || s.length > best.length)) best = s;
  }
  return best;
}

/**
 * Decides whether a name goes to the cluster: reference 4.3, in order, matching on label boundaries.
 * `name` must be lowercase without the trailing dot and with drop suffixes already stripped.
 */
export function decideRoute(config: NormalizedDnsConfig, name: string): RouteDecision {
  const no = (rule: RouteRule, match?: string): RouteDecision =>
    match === undefined ? { name, toCluster: false, rule } : { name, toCluster: false, rule, match };
  const yes = (rule: RouteRule, match?: string): RouteDecision =>
    match === undefined ? { name, toCluster: true, rule } : { name, toCluster: true, rule, match };

  if (isRecursionCheckName(name)) return yes('recursion-check');
  if (name === 'wpad' || name.startsWith('wpad.')) return no('wpad');
  if (config.excludes.has(name)) return no('exclude', name);
  for (const s of config.search) {
    const bare = stripLabelSuffix(name, s);
    if (bare !== name && config.excludes.has(bare)) return no('exclude', bare);
  }
  if (isSingleLabel(name)) return yes('single-label');
  const exclude = firstSuffix(name, config.excludeSuffixes);
  if (exclude !== undefined) {
    const include = firstSuffix(name, config.includeSuffixes);
    if (include !== undefined && include.length >= exclude.length) return yes('include-suffix', include);
    return no('exclude-suffix', exclude);
  }
  const search = firstSuffix(name, config.search);
  if (search !== undefined) return yes('search-path', search);
  const route = firstSuffix(name, config.routes);
  if (route !== undefined) return yes(route === 'svc' ? 'svc' : 'namespace', route);
  if (hasLabelSuffix(name, config.clusterDomain)) return yes('cluster-domain', config.clusterDomain);
  const include = firstSuffix(name, config.includeSuffixes);
  if (include !== undefined) return yes('include-suffix', include);
  return no('no-rule');
}

/** One log line explaining a decision, e.g. `cluster DNS included for name "a.b": ends with include suffix "b"`. */
export function explainRoute(decision: RouteDecision): string {
  const verb = decision.toCluster ? 'included' : 'excluded';
  const m = decision.match ?? '';
  const why: Record<RouteRule, string> = {
    wpad: 'wpad names never go to the cluster',
    exclude: `"${m}" is on the excludes list`,
    'single-label': 'single-label names always go to the cluster',
    'exclude-suffix': `ends with exclude suffix "${m}" and no include suffix at least as long matches`,
    'search-path': `ends with search path entry "${m}"`,
    namespace: `ends with mapped namespace "${m}"`,
    svc: 'ends with "svc"',
    'cluster-domain': `ends with the cluster domain "${m}"`,
    'include-suffix': `ends with include suffix "${m}"`,
    'recursion-check': 'recursion check names go to the cluster only',
    'no-rule': 'no inclusion rule matched',
  };
  return `cluster DNS ${verb} for name "${decision.name}": ${why[decision.rule]}`;
}

/** Strips the drop suffixes (always `tel2-search`) from a lowercase name; returns the name unchanged if none. */
export function stripDropSuffixes(config: NormalizedDnsConfig, name: string): string {
  for (const s of config.dropSuffixes) {
    const stripped = stripLabelSuffix(name, s);
    if (stripped !== name) return stripped;
  }
  return name;
}

/** True when a (stripped) name still carries the marker label: such names are answered NXDOMAIN. */
export function hasSearchMarker(name: string): boolean {
  return hasLabel(name, SEARCH_MARKER);
}
