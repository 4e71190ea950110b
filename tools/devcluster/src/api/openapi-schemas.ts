// OpenAPI v3 schemas of the kinds devcluster serves, for `kubectl explain`: built from the models of
// @kubernetes/client-node (generated from the Kubernetes OpenAPI document): field names and types from
// each model's attributeTypeMap, descriptions and required fields from its declaration file.
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

type Schema = Record<string, unknown>;

interface Attribute {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
  readonly format: string;
}

interface Model {
  readonly attributeTypeMap?: readonly Attribute[];
}

const models = k8s as unknown as Record<string, Model | undefined>;
const modelsDir = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node')),
  'gen/models',
);

/** The schema name a model gets: `io.k8s.api.<group>.<version>.<Type>`-like, from the model name. */
export function schemaName(model: string, group: string): string {
  const m = /^(?:[A-Z][a-z]+)*?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$/.exec(model);
  const version = m?.[1]?.toLowerCase() ?? 'v1';
  const type = m?.[2] ?? model;
  if (type === 'ObjectMeta' || type === 'ListMeta' || type === 'Condition' || type === 'OwnerReference')
    return `io.k8s.apimachinery.pkg.apis.meta.v1.${type}`;
  return `io.k8s.api.${group.split('.')[0] || 'core'}.${version}.${type}`;
}

interface Declaration {
  readonly description: string;
  readonly fields: Map<string, { description: string; required: boolean }>;
}

/** Descriptions from the model's .d.ts: the class comment and one comment per property. */
function declaration(model: string): Declaration {
  let text = '';
  try {
    text = readFileSync(path.join(modelsDir, `${model}.d.ts`), 'utf8');
  } catch {
    return { description: '', fields: new Map() };
  }
  const clean = (c: string) =>
    c
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ')
      .replace(/\\(['"])/g, '$1');
  const cls = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export declare class/.exec(text);
  const fields = new Map<string, { description: string; required: boolean }>();
  const prop = /(?:\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*)?'([^']+)'(\??):/g;
  for (let m = prop.exec(text); m; m = prop.exec(text)) {
    fields.set(m[2] ?? '', { description: clean(m[1] ?? ''), required: m[3] !== '?' });
  }
  return { description: clean(cls?.[1] ?? ''), fields };
}

/** The schema name each model got in a document (two models may share a type name). */
const namesByDocument = new WeakMap<Record<string, Schema>, Map<string, string>>();

/** Adds the schema of `model` (and of every model it refers to) to `out`; its name. */
function addModel(model: string, group: string, out: Record<string, Schema>): string | undefined {
  const attrs = models[model]?.attributeTypeMap;
  if (!attrs) return undefined;
  let names = namesByDocument.get(out);
  if (!names) namesByDocument.set(out, (names = new Map()));
  const known = names.get(model);
  if (known) return known;
  let name = schemaName(model, group);
  for (let i = 2; out[name]; i++) name = `${schemaName(model, group)}${i}`;
  names.set(model, name);
  const decl = declaration(model);
  const schema: Schema = { type: 'object', description: decl.description, properties: {} };
  out[name] = schema;
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const a of attrs) {
    const field = decl.fields.get(a.name);
    properties[a.baseName] = {
      ...typeSchema(a.type, a.format, group, out),
      ...(field?.description ? { description: field.description } : {}),
    };
    if (field?.required) required.push(a.baseName);
  }
  schema['properties'] = properties;
  if (required.length > 0) schema['required'] = required;
  return name;
}

const intOrString = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

function typeSchema(type: string, format: string, group: string, out: Record<string, Schema>): Schema {
  switch (type) {
    case 'string':
      return { type: 'string', ...(format ? { format } : {}) };
    case 'boolean':
      return { type: 'boolean' };
    case 'number':
      return format === 'int32' || format === 'int64' ? { type: 'integer', format } : { type: 'number' };
    case 'Date':
      return { type: 'string', format: 'date-time' };
    case 'IntOrString':
      out[intOrString] ??= {
        type: 'string',
        format: 'int-or-string',
        description: 'IntOrString is a type that can hold an int32 or a string.',
      };
      return { allOf: [{ $ref: `#/components/schemas/${intOrString}` }] };
    case 'any':
    case 'object':
      return { type: 'object' };
  }
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { type: 'array', items: typeSchema(array[1] ?? '', '', group, out) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: typeSchema(map[1] ?? '', '', group, out) };
  const ref = addModel(type, group, out);
  return ref ? { allOf: [{ $ref: `#/components/schemas/${ref}` }] } : { type: 'object' };
}

/**
 * The schemas for one served kind (and every type it uses), added to `out`; the kind's schema name, or
 * undefined when client-node has no model for it.
 */
export function kindSchema(
  kind: { group: string; version: string; kind: string },
  out: Record<string, Schema>,
): string | undefined {
  const version = kind.version.charAt(0).toUpperCase() + kind.version.slice(1);
  const name = addModel(`${version}${kind.kind}`, kind.group, out);
  if (name)
    out[name]!['x-kubernetes-group-version-kind'] = [
      { group: kind.group, version: kind.version, kind: kind.kind },
    ];
  return name;
}
