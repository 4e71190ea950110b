// `telepresence config view`: the configuration the next connect starts from (defaults merged with the
// user's config file) and, for every value, where it came from. Values the cluster pushes (the chart's
// `client:` values) join at connect; `telepresence status` shows what a connection uses.
import fs from 'node:fs';
import { configFilePath, mergeConfig, parseConfigYaml, type ConfigLayer } from '../config/config.js';

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

/** Every key of the merged config with its value and source ('default' or the file that set it). */
export function configValues(fileLayer: ConfigLayer, file: string): ConfigValue[] {
  const merged = mergeConfig([fileLayer]);
  return leaves(merged).map(([key, value]) => ({
    key,
    value,
    source: lookup(fileLayer, key) === undefined ? 'default' : file,
  }));
}

export function readConfigValues(env: NodeJS.ProcessEnv): { file: string; values: ConfigValue[] } {
  const file = configFilePath({ XDG_CONFIG_HOME: env['XDG_CONFIG_HOME'], HOME: env['HOME'] });
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // no file: every value is a default
  }
  return { file, values: configValues(parseConfigYaml(text, file), file) };
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
