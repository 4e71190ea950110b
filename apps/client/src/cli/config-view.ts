// `telepresence config view`: the merged configuration and, for every value, where it came from: the
// defaults, the values the cluster pushes (the chart's `client:` values, from the traffic-manager, while
// connected) and the user's config file, lowest first. Not connected, the cluster layer is not known.
import fs from 'node:fs';
import type { daemon } from '@telepresence/rpc';
import { configFilePath, mergeConfig, parseConfigYaml, type ConfigLayer } from '../config/config.js';
import type { DaemonPaths } from '../daemon/paths.js';
import { socketAnswers } from '../daemon/server.js';
import { daemonStatus, openDaemonClient } from './daemon-client.js';

/** A config layer and where it came from (a file, the cluster). */
export interface SourcedLayer {
  readonly layer: ConfigLayer;
  readonly source: string;
}

/** Keys whose layers add up (mergeConfig's unions) rather than the highest one winning. */
const UNION_KEYS = new Set(['routing.alsoProxy', 'routing.neverProxy', 'routing.allowConflicting']);

export interface ConfigValue {
  readonly key: string;
  readonly value: unknown;
  readonly source: string;
}

function leaves(obj: object, prefix = ''): Array<[string, unknown]> {
  return Object.entries(obj).flatMap(([k, v]): Array<[string, unknown]> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? leaves(v as object, `${prefix}${k}.`)
      : [[`${prefix}${k}`, v]],
  );
}

const lookup = (obj: object, key: string): unknown =>
  key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);

/**
 * Every key of the merged config (layers lowest first) with its value and source: the layer that set
 * it, for lists that add up every layer that added to it (joined with " + "), else 'default'.
 */
export function configValues(layers: readonly SourcedLayer[]): ConfigValue[] {
  const merged = mergeConfig(layers.map((l) => l.layer));
  return leaves(merged).map(([key, value]) => {
    const union = UNION_KEYS.has(key);
    const setters = layers.filter((l) => {
      const v = lookup(l.layer, key);
      return v !== undefined && !(union && Array.isArray(v) && v.length === 0);
    });
    const source =
      setters.length === 0
        ? 'default'
        : union
          ? setters.map((l) => l.source).join(' + ')
          : setters[setters.length - 1]!.source;
    return { key, value, source };
  });
}

/** The cluster's layer from a connected daemon's status, if it has one. */
export function pushedLayerOf(status: daemon.StatusResponse | undefined): SourcedLayer | undefined {
  const p = status?.connected ? status.pushedConfig : undefined;
  if (p === undefined || p.layerJson === '') return undefined;
  return { layer: JSON.parse(p.layerJson) as ConfigLayer, source: p.origin };
}

/** The status of a daemon this user may use; undefined when there is none (or it is another user's). */
export async function daemonStatusIfAny(paths: DaemonPaths): Promise<daemon.StatusResponse | undefined> {
  if (!(await socketAnswers(paths.socket))) return undefined;
  const client = openDaemonClient(paths);
  try {
    return await daemonStatus(client);
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

export function readConfigValues(
  env: NodeJS.ProcessEnv,
  pushed?: SourcedLayer,
): { file: string; values: ConfigValue[] } {
  const file = configFilePath({ XDG_CONFIG_HOME: env['XDG_CONFIG_HOME'], HOME: env['HOME'] });
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // no file: every value is a default
  }
  const fileLayer = { layer: parseConfigYaml(text, file), source: file };
  return { file, values: configValues(pushed === undefined ? [fileLayer] : [pushed, fileLayer]) };
}

export function formatConfigValues(values: readonly ConfigValue[], json: boolean): string {
  if (json)
    return JSON.stringify(
      Object.fromEntries(values.map((v) => [v.key, { value: v.value, source: v.source }])),
    );
  const shown = values.map((v) => [`${v.key}: ${JSON.stringify(v.value)}`, v.source] as const);
  const width = Math.max(...shown.map(([l]) => l.length));
  return shown.map(([line, source]) => `${line.padEnd(width)}  # ${source}`).join('\n');
}
