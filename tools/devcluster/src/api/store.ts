// The in-memory object store: one global resourceVersion counter, a bounded event history for watches
// (older versions answer 410 Gone), and synchronous change listeners for the in-process controllers.
import { randomUUID } from 'node:crypto';
import { alreadyExists, ApiError, conflict, invalid, notFound } from './errors.js';
import { clone, type KubeObject } from './object.js';
import { byKey } from './resources.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: EventType;
  /** Resource key, e.g. 'pods' or 'apps/deployments'. */
  readonly key: string;
  readonly rv: number;
  readonly object: KubeObject;
}

export interface StoreOptions {
  /** How many events watches can resume from; older resourceVersions are 410 Gone. */
  readonly historyLimit?: number;
  readonly now?: () => Date;
}

export type Listener = (event: StoreEvent) => void;

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

const nameRe = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class Store {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private rv = 1;
  /** Lowest resourceVersion a watch may still resume from. */
  private compactedRv = 1;
  private readonly historyLimit: number;
  private readonly now: () => Date;

  constructor(options: StoreOptions = {}) {
    this.historyLimit = options.historyLimit ?? 10000;
    this.now = options.now ?? (() => new Date());
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get oldestResumableVersion(): number {
    return this.compactedRv;
  }

  private bucket(key: string): Map<string, KubeObject> {
    let b = this.objects.get(key);
    if (!b) {
      b = new Map();
      this.objects.set(key, b);
    }
    return b;
  }

  get(key: string, ns: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(key)?.get(objKey(ns, name));
    return o ? clone(o) : undefined;
  }

  mustGet(key: string, ns: string | undefined, name: string): KubeObject {
    const o = this.get(key, ns, name);
    if (!o) {
      const t = byKey(key);
      throw notFound(t.plural, t.group, name);
    }
    return o;
  }

  /** Objects of a type, in one namespace or all, sorted by namespace/name like etcd keys. */
  list(key: string, ns?: string): KubeObject[] {
    const b = this.objects.get(key);
    if (!b) return [];
    const out: KubeObject[] = [];
    for (const [k, o] of b) {
      if (ns === undefined || o.metadata.namespace === ns) out.push(o);
      void k;
    }
    out.sort((a, b2) =>
      objKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(
        objKey(b2.metadata.namespace, b2.metadata.name ?? ''),
      ),
    );
    return out.map((o) => clone(o));
  }

  create(key: string, input: KubeObject): KubeObject {
    const t = byKey(key);
    const obj = clone(input);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    const name = meta.name ?? '';
    if (!name) {
      throw invalid(t.kind, t.group, '', [
        { field: 'metadata.name', message: 'Required value: name or generateName is required' },
      ]);
    }
    if (t.group === 'rbac.authorization.k8s.io') {
      // RBAC names are path segments (system:basic-user): anything but "/", "%", "." and "..".
      if (/[/%]/.test(name) || name === '.' || name === '..')
        throw invalid(t.kind, t.group, name, [
          { field: 'metadata.name', message: `Invalid value: "${name}": may not contain '/' or '%'` },
        ]);
    } else if (!nameRe.test(name) || name.length > 253) {
      throw invalid(t.kind, t.group, name, [
        {
          field: 'metadata.name',
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
    }
    if (t.namespaced && !meta.namespace) meta.namespace = 'default';
    if (!t.namespaced) delete meta.namespace;
    const b = this.bucket(key);
    if (b.has(objKey(meta.namespace, name))) throw alreadyExists(t.plural, t.group, name);
    obj.apiVersion = t.group ? `${t.group}/${t.version}` : t.version;
    obj.kind = t.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = this.timestamp();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    meta.resourceVersion = String(++this.rv);
    b.set(objKey(meta.namespace, name), obj);
    this.emit({ type: 'ADDED', key, rv: this.rv, object: obj });
    return clone(obj);
  }

  /**
   * Replaces an object. A non-empty metadata.resourceVersion must match the stored one (optimistic
   * concurrency); identity fields (uid, creationTimestamp) are kept from the stored object.
   */
  update(key: string, input: KubeObject, options: { subresource?: 'status' } = {}): KubeObject {
    const t = byKey(key);
    const name = input.metadata.name ?? '';
    const ns = t.namespaced ? input.metadata.namespace : undefined;
    const b = this.bucket(key);
    const old = b.get(objKey(ns, name));
    if (!old) throw notFound(t.plural, t.group, name);
    if (input.metadata.resourceVersion && input.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(t.plural, t.group, name);
    }
    let obj = clone(input);
    if (options.subresource === 'status') {
      obj = { ...clone(old), status: obj['status'] };
    } else if (old['status'] !== undefined && key !== 'namespaces') {
      // A main-resource update never changes status (as the apiserver's status strategy does).
      obj['status'] = clone(old['status']);
    }
    obj.apiVersion = old.apiVersion ?? '';
    obj.kind = old.kind ?? '';
    const meta = obj.metadata;
    meta.uid = old.metadata.uid ?? '';
    meta.creationTimestamp = old.metadata.creationTimestamp ?? '';
    if (ns !== undefined) meta.namespace = ns;
    if (old.metadata.deletionTimestamp) meta.deletionTimestamp = old.metadata.deletionTimestamp;
    meta.generation = old.metadata.generation ?? 1;
    if (specChanged(old, obj)) meta.generation += 1;
    if (JSON.stringify(withoutRv(old)) === JSON.stringify(withoutRv(obj))) {
      return clone(old); // no-op updates do not bump the version, as in the apiserver
    }
    meta.resourceVersion = String(++this.rv);
    b.set(objKey(ns, name), obj);
    this.emit({ type: 'MODIFIED', key, rv: this.rv, object: obj });
    return clone(obj);
  }

  delete(key: string, ns: string | undefined, name: string): KubeObject {
    const t = byKey(key);
    const b = this.bucket(key);
    const k = objKey(t.namespaced ? ns : undefined, name);
    const old = b.get(k);
    if (!old) throw notFound(t.plural, t.group, name);
    b.delete(k);
    const obj = clone(old);
    obj.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', key, rv: this.rv, object: obj });
    return clone(obj);
  }

  /** Listeners run synchronously after every change; they must not throw. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Events after `fromRv` (exclusive) for one resource type. Throws 410 Gone when those are no longer kept.
   */
  eventsSince(key: string, fromRv: number): StoreEvent[] {
    if (fromRv < this.compactedRv - 1) {
      throw new ApiError(410, 'Expired', `too old resource version: ${fromRv} (${this.compactedRv})`);
    }
    return this.history.filter((e) => e.key === key && e.rv > fromRv);
  }

  /** Drops all history: every earlier resourceVersion becomes too old to watch from (for tests). */
  compact(): void {
    this.history.length = 0;
    this.compactedRv = this.rv + 1;
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      const last = dropped[dropped.length - 1];
      if (last) this.compactedRv = last.rv + 1;
    }
    // A listener that changes the store (the kubelet reporting status on a new pod) must not have its
    // event delivered before the one being dispatched: watchers see changes in resourceVersion order
    // (ADDED Pending, then MODIFIED ContainerCreating, as from a real apiserver).
    this.pending.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let e = this.pending.shift(); e; e = this.pending.shift()) for (const l of this.listeners) l(e);
    } finally {
      this.dispatching = false;
    }
  }

  private readonly pending: StoreEvent[] = [];
  private dispatching = false;

  private timestamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
  }
}

function withoutRv(o: KubeObject): unknown {
  return { ...o, metadata: { ...o.metadata, resourceVersion: undefined, generation: undefined } };
}

function specChanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => JSON.stringify({ ...o, metadata: undefined, status: undefined });
  return strip(a) !== strip(b);
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}
