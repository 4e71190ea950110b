// The OpenAPI v3 description: every PATCH operation is tagged with its group/version/kind and accepts
// `fieldValidation`, so kubectl leaves field validation to the server (and computes strategic merge
// patches from its built-in types); the kinds' schemas (openapi-schemas.ts) serve `kubectl explain`.
import { createHash } from 'node:crypto';
import { kindSchema } from './openapi-schemas.js';
import { resourceTypes } from './resources.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function gvs(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const t of resourceTypes) seen.set(gvPath(t.group, t.version), { group: t.group, version: t.version });
  return [...seen.values()];
}

const documents = new Map<string, Record<string, unknown> | undefined>();

/** The document of one group/version (built once: the served kinds never change). */
export function openApiDocument(group: string, version: string): Record<string, unknown> | undefined {
  const key = gvPath(group, version);
  if (!documents.has(key)) documents.set(key, buildDocument(group, version));
  return documents.get(key);
}

function buildDocument(group: string, version: string): Record<string, unknown> | undefined {
  const types = resourceTypes.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const params = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((name) => ({
    name,
    in: 'query',
    schema: { type: name === 'force' ? 'boolean' : 'string' },
    uniqueItems: true,
  }));
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const base = `/${gvPath(t.group, t.version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`;
    const op = (verb: string) => ({
      operationId: `${verb}${t.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      parameters: params,
      responses: { '200': { description: 'OK' } },
    });
    paths[`${base}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') };
    paths[base] = { get: op('list'), post: op('post') };
  }
  const schemas: Record<string, Record<string, unknown>> = {};
  for (const t of types) {
    if (kindSchema(t, schemas)) continue;
    schemas[`io.k8s.devcluster.${t.group || 'core'}.${t.version}.${t.kind}`] = {
      type: 'object',
      'x-kubernetes-group-version-kind': [{ group: t.group, version: t.version, kind: t.kind }],
      'x-kubernetes-preserve-unknown-fields': true,
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.33.0' },
    paths,
    components: { schemas },
  };
}

export function openApiRoot(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const { group, version } of gvs()) {
    const doc = JSON.stringify(openApiDocument(group, version));
    const hash = createHash('sha512').update(doc).digest('hex').slice(0, 32).toUpperCase();
    paths[gvPath(group, version)] = {
      serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}`,
    };
  }
  return { paths };
}

/** gnostic openapi_v2.Document with only `swagger: "2.0"` and a title, protobuf-encoded. */
export function openApiV2Protobuf(): Buffer {
  const str = (field: number, v: string) =>
    Buffer.concat([Buffer.from([(field << 3) | 2, v.length]), Buffer.from(v)]);
  const info = Buffer.concat([str(1, 'Kubernetes'), str(2, 'v1.33.0')]);
  return Buffer.concat([str(1, '2.0'), Buffer.from([(2 << 3) | 2, info.length]), info]);
}
