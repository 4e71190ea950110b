// The client configuration and how its three layers merge. Precedence, lowest first:
//   1. defaults pushed by the cluster (the chart's `client:` values, carried in ClusterInfo),
//   2. the user's config file ($XDG_CONFIG_HOME/telepresence/config.yml),
//   3. command-line flags.
// Routing lists are unions of all layers (a cluster-pushed never-proxy still applies when the user adds
// their own); the DNS suffix lists and every scalar are taken from the highest layer that sets them.
import { parse as parseYaml } from 'yaml';
import { parseDurationMs } from './duration.js';
import { parseCidr } from '@telepresence/subnets';
import { TpError } from '../util/errors.js';

export interface ClientConfig {
  readonly routing: {
    readonly alsoProxy: readonly string[];
    readonly neverProxy: readonly string[];
    readonly allowConflicting: readonly string[];
  };
  readonly dns: {
    /** The upstream nameserver the overriding resolver redirects and falls back to; '' = resolv.conf's first. */
    readonly upstream: string;
    readonly includeSuffixes: readonly string[];
    readonly excludeSuffixes: readonly string[];
    readonly lookupTimeoutMs: number;
  };
  readonly cluster: {
    readonly mappedNamespaces: readonly string[];
  };
  readonly timeouts: {
    readonly trafficManagerConnectMs: number;
    readonly endpointDialMs: number;
    readonly roundtripLatencyMs: number;
  };
  readonly logLevel: string;
}

/** One layer: anything may be missing. */
export interface ConfigLayer {
  routing?: { alsoProxy?: string[]; neverProxy?: string[]; allowConflicting?: string[] };
  dns?: {
    upstream?: string;
    includeSuffixes?: string[];
    excludeSuffixes?: string[];
    lookupTimeoutMs?: number;
  };
  cluster?: { mappedNamespaces?: string[] };
  timeouts?: { trafficManagerConnectMs?: number; endpointDialMs?: number; roundtripLatencyMs?: number };
  logLevel?: string;
}

export const DEFAULT_EXCLUDE_SUFFIXES: readonly string[] = ['.com', '.io', '.net', '.org', '.ru'];

export const DEFAULT_CONFIG: ClientConfig = {
  routing: { alsoProxy: [], neverProxy: [], allowConflicting: [] },
  dns: {
    upstream: '',
    includeSuffixes: [],
    excludeSuffixes: DEFAULT_EXCLUDE_SUFFIXES,
    lookupTimeoutMs: 8000,
  },
  cluster: { mappedNamespaces: [] },
  timeouts: { trafficManagerConnectMs: 60_000, endpointDialMs: 3000, roundtripLatencyMs: 2000 },
  logLevel: 'info',
};

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** Merges layers (lowest precedence first) over the defaults. */
export function mergeConfig(layers: readonly ConfigLayer[]): ClientConfig {
  const pick = <T>(get: (l: ConfigLayer) => T | undefined, fallback: T): T => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i];
      const value = layer === undefined ? undefined : get(layer);
      if (value !== undefined) return value;
    }
    return fallback;
  };
  const union = (get: (l: ConfigLayer) => string[] | undefined): string[] =>
    unique(layers.flatMap((l) => get(l) ?? []));
  return {
    routing: {
      alsoProxy: union((l) => l.routing?.alsoProxy),
      neverProxy: union((l) => l.routing?.neverProxy),
      allowConflicting: union((l) => l.routing?.allowConflicting),
    },
    dns: {
      upstream: pick((l) => l.dns?.upstream, DEFAULT_CONFIG.dns.upstream),
      includeSuffixes: pick((l) => l.dns?.includeSuffixes, DEFAULT_CONFIG.dns.includeSuffixes),
      excludeSuffixes: pick((l) => l.dns?.excludeSuffixes, DEFAULT_CONFIG.dns.excludeSuffixes),
      lookupTimeoutMs: pick((l) => l.dns?.lookupTimeoutMs, DEFAULT_CONFIG.dns.lookupTimeoutMs),
    },
    cluster: {
      mappedNamespaces: pick((l) => l.cluster?.mappedNamespaces, DEFAULT_CONFIG.cluster.mappedNamespaces),
    },
    timeouts: {
      trafficManagerConnectMs: pick(
        (l) => l.timeouts?.trafficManagerConnectMs,
        DEFAULT_CONFIG.timeouts.trafficManagerConnectMs,
      ),
      endpointDialMs: pick((l) => l.timeouts?.endpointDialMs, DEFAULT_CONFIG.timeouts.endpointDialMs),
      roundtripLatencyMs: pick(
        (l) => l.timeouts?.roundtripLatencyMs,
        DEFAULT_CONFIG.timeouts.roundtripLatencyMs,
      ),
    },
    logLevel: pick((l) => l.logLevel, DEFAULT_CONFIG.logLevel),
  };
}

// ---- reading the config file ------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class LayerReader {
  constructor(private readonly source: string) {}

  fail(path: string, what: string): never {
    throw new TpError('config', `${this.source}: ${path}: ${what}`, {
      hint: 'fix the file or move it away; see DESIGN.md section 4 for the keys',
    });
  }

  section(obj: Obj, key: string, path: string): Obj | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) this.fail(`${path}${key}`, 'must be a mapping');
    return v;
  }

  strings(obj: Obj, key: string, path: string): string[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((s): s is string => typeof s === 'string')) {
      this.fail(`${path}${key}`, 'must be a list of strings');
    }
    return v;
  }

  cidrs(obj: Obj, key: string, path: string): string[] | undefined {
    const list = this.strings(obj, key, path);
    for (const c of list ?? []) {
      try {
        parseCidr(c);
      } catch (e) {
        this.fail(`${path}${key}`, (e as Error).message);
      }
    }
    return list;
  }

  string(obj: Obj, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(`${path}${key}`, 'must be a string');
    return v;
  }

  duration(obj: Obj, key: string, path: string): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    try {
      return parseDurationMs(v, `${path}${key}`);
    } catch (e) {
      return this.fail(`${path}${key}`, (e as Error).message);
    }
  }
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * Parses config.yml. Keys may sit at the top level or under `client:` (the chart's shape). Unknown keys
 * are ignored so newer files keep working; known keys with the wrong shape are errors naming the key.
 */
export function parseConfigYaml(text: string, source: string): ConfigLayer {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new TpError('config', `${source}: not valid YAML: ${(e as Error).message.split('\n')[0] ?? ''}`, {
      hint: 'fix the file or move it away',
    });
  }
  if (doc === undefined || doc === null) return {};
  const r = new LayerReader(source);
  const root: Obj = isObj(doc) ? (r.section(doc, 'client', '') ?? doc) : r.fail('(top)', 'must be a mapping');
  const layer: ConfigLayer = {};
  const routing = r.section(root, 'routing', '');
  if (routing) {
    layer.routing = {};
    setIfDefined(
      layer.routing,
      'alsoProxy',
      r.cidrs(routing, 'alsoProxy', 'routing.') ?? r.cidrs(routing, 'alsoProxySubnets', 'routing.'),
    );
    setIfDefined(
      layer.routing,
      'neverProxy',
      r.cidrs(routing, 'neverProxy', 'routing.') ?? r.cidrs(routing, 'neverProxySubnets', 'routing.'),
    );
    setIfDefined(
      layer.routing,
      'allowConflicting',
      r.cidrs(routing, 'allowConflicting', 'routing.') ??
        r.cidrs(routing, 'allowConflictingSubnets', 'routing.'),
    );
  }
  const dns = r.section(root, 'dns', '');
  if (dns) {
    layer.dns = {};
    setIfDefined(
      layer.dns,
      'upstream',
      r.string(dns, 'localIP', 'dns.') ?? r.string(dns, 'upstream', 'dns.'),
    );
    setIfDefined(layer.dns, 'includeSuffixes', r.strings(dns, 'includeSuffixes', 'dns.'));
    setIfDefined(layer.dns, 'excludeSuffixes', r.strings(dns, 'excludeSuffixes', 'dns.'));
    setIfDefined(layer.dns, 'lookupTimeoutMs', r.duration(dns, 'lookupTimeout', 'dns.'));
  }
  const cluster = r.section(root, 'cluster', '');
  if (cluster) {
    layer.cluster = {};
    setIfDefined(layer.cluster, 'mappedNamespaces', r.strings(cluster, 'mappedNamespaces', 'cluster.'));
  }
  const timeouts = r.section(root, 'timeouts', '');
  if (timeouts) {
    layer.timeouts = {};
    setIfDefined(
      layer.timeouts,
      'trafficManagerConnectMs',
      r.duration(timeouts, 'trafficManagerConnect', 'timeouts.'),
    );
    setIfDefined(layer.timeouts, 'endpointDialMs', r.duration(timeouts, 'endpointDial', 'timeouts.'));
    setIfDefined(layer.timeouts, 'roundtripLatencyMs', r.duration(timeouts, 'roundtripLatency', 'timeouts.'));
  }
  const logLevels = r.section(root, 'logLevels', '');
  if (logLevels) {
    const level = r.string(logLevels, 'rootDaemon', 'logLevels.');
    if (level !== undefined && !LOG_LEVELS.has(level)) {
      r.fail('logLevels.rootDaemon', `unknown level "${level}" (use one of ${[...LOG_LEVELS].join(', ')})`);
    }
    setIfDefined(layer, 'logLevel', level);
  }
  return layer;
}

/** Where the CLI looks for the config file. */
export function configFilePath(env: {
  XDG_CONFIG_HOME?: string | undefined;
  HOME?: string | undefined;
}): string {
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== ''
      ? env.XDG_CONFIG_HOME
      : `${env.HOME ?? ''}/.config`;
  return `${base}/telepresence/config.yml`;
}
