// The three patch types the apiserver accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
// Kubernetes strategic merge patch, the latter with the directives kubectl sends ($patch,
// $setElementOrder, $deleteFromPrimitiveList, $retainKeys).
import { badRequest, ApiError } from './errors.js';
import { clone, isRecord } from './object.js';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---- JSON patch ----

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, parts: string[], path: string): { parent: unknown; last: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRecord(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw new ApiError(422, 'Invalid', `jsonpatch: path ${path}: missing parent`);
  }
  return { parent: cur, last: parts[parts.length - 1] ?? '' };
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRecord(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function removeAt(doc: unknown, path: string): unknown {
  const parts = pointer(path);
  const { parent, last } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length))
      throw new ApiError(422, 'Invalid', `jsonpatch remove: index out of range: ${path}`);
    return parent.splice(i, 1)[0];
  }
  if (isRecord(parent) && last in parent) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw new ApiError(
    422,
    'Invalid',
    `jsonpatch remove operation does not apply: doc is missing key: ${path}`,
  );
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, last } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!(i >= 0 && i <= parent.length))
      throw new ApiError(422, 'Invalid', `jsonpatch: index out of range: ${path}`);
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else if (isRecord(parent)) {
    if (replace && !(last in parent)) {
      throw new ApiError(
        422,
        'Invalid',
        `jsonpatch replace operation does not apply: doc is missing key: ${path}`,
      );
    }
    parent[last] = clone(value);
  } else throw new ApiError(422, 'Invalid', `jsonpatch: cannot add at ${path}`);
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const raw of ops as JsonPatchOp[]) {
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, raw.path, raw.value, false);
        break;
      case 'replace':
        doc = addAt(doc, raw.path, raw.value, true);
        break;
      case 'remove':
        removeAt(doc, raw.path);
        break;
      case 'move': {
        const v = removeAt(doc, raw.from ?? '');
        doc = addAt(doc, raw.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, raw.path, getAt(doc, raw.from ?? ''), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, raw.path)) !== JSON.stringify(raw.value)) {
          throw new ApiError(422, 'Invalid', `jsonpatch test operation does not apply: ${raw.path}`);
        }
        break;
      default:
        throw badRequest(`unknown json patch operation ${JSON.stringify((raw as { op: unknown }).op)}`);
    }
  }
  return doc;
}

// ---- strategic merge patch ----

/**
 * Merge keys of the lists the Kubernetes types declare `patchStrategy=merge` for. Decided by field name
 * (and, for `ports`/`addresses`, by the element's fields): the types served here never use one field
 * name with two different keys.
 */
function mergeKeyFor(field: string, sample: unknown): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'imagePullSecrets':
    case 'env':
    case 'webhooks':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'ownerReferences':
      return 'uid';
    case 'hostAliases':
      return 'ip';
    case 'conditions':
      return 'type';
    case 'addresses':
      return isRecord(sample) && 'type' in sample ? 'type' : undefined;
    case 'ports':
      if (isRecord(sample) && 'containerPort' in sample) return 'containerPort';
      return 'port';
    default:
      return undefined;
  }
}

/** Primitive lists merged as sets. */
const mergedPrimitiveLists = new Set(['finalizers']);

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  return smpValue(clone(target), patch, '');
}

function smpValue(target: unknown, patch: unknown, field: string): unknown {
  if (!isRecord(patch)) return clone(patch);
  return smpMap(isRecord(target) ? target : {}, patch, field);
}

function smpMap(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  _field: string,
): Record<string, unknown> {
  const directive = patch['$patch'];
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest) as Record<string, unknown>;
  }
  if (directive === 'delete') return {};
  let out: Record<string, unknown> = { ...target };
  const retain = patch['$retainKeys'];
  if (Array.isArray(retain)) {
    out = Object.fromEntries(Object.entries(out).filter(([k]) => retain.includes(k)));
  }
  const orders = new Map<string, unknown[]>();
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.set(k.slice('$setElementOrder/'.length), v);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const name = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[name];
      if (Array.isArray(cur) && Array.isArray(v)) out[name] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      out[k] = smpList(out[k], v, k);
      continue;
    }
    out[k] = smpValue(out[k], v, k);
  }
  for (const [name, order] of orders) {
    const cur = out[name];
    if (Array.isArray(cur)) out[name] = applyOrder(cur, order, name);
  }
  return out;
}

function smpList(target: unknown, patch: unknown[], field: string): unknown[] {
  const cur = Array.isArray(target) ? target : [];
  const sample = patch.find((e) => isRecord(e) && e['$patch'] === undefined) ?? patch[0] ?? cur[0];
  const key = mergeKeyFor(field, sample);
  const replaceAll = patch.some((e) => isRecord(e) && e['$patch'] === 'replace');
  if (replaceAll)
    return stripDirectives(patch.filter((e) => !(isRecord(e) && e['$patch'] === 'replace'))) as unknown[];
  if (key === undefined) {
    if (mergedPrimitiveLists.has(field)) {
      const out = [...cur];
      for (const v of patch) if (!out.includes(v)) out.push(v);
      return out;
    }
    return stripDirectives(patch) as unknown[];
  }
  const out = cur.map((e) => e);
  for (const item of patch) {
    if (!isRecord(item)) continue;
    const idx = out.findIndex((e) => isRecord(e) && e[key] === item[key]);
    if (item['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpMap(out[idx] as Record<string, unknown>, item, field);
    else out.push(stripDirectives(item));
  }
  return out;
}

function applyOrder(list: unknown[], order: unknown[], field: string): unknown[] {
  const key = mergeKeyFor(field, order[0] ?? list[0]);
  const id = (e: unknown) => (key !== undefined && isRecord(e) ? JSON.stringify(e[key]) : JSON.stringify(e));
  const rank = new Map(order.map((e, i) => [id(e), i]));
  const ordered = list
    .filter((e) => rank.has(id(e)))
    .sort((a, b) => (rank.get(id(a)) ?? 0) - (rank.get(id(b)) ?? 0));
  const rest = list.filter((e) => !rank.has(id(e)));
  return [...ordered, ...rest];
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}
