// The apiserver's verbs on top of the store: defaulting, validation, admission, ClusterIP allocation,
// graceful pod deletion, finalizers and namespace cascade. Used by the HTTP layer and the controllers.
import { ApiError, badRequest, invalid, notFound } from './errors.js';
import { recordEvent } from './events.js';
import type { WebhookCaller } from './admission.js';
import {
  defaultDeployment,
  defaultNamespace,
  defaultPod,
  defaultReplicaSet,
  defaultSecret,
  defaultService,
  defaultWebhookConfiguration,
} from './defaults.js';
import { clone, field, isRecord, str, type KubeObject } from './object.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { resourceKey, type ResourceType } from './resources.js';
import type { ServiceIpAllocator } from './service-ips.js';
import type { Store } from './store.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string): PatchType {
  const ct = contentType.split(';')[0]?.trim();
  switch (ct) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
      );
  }
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export interface ApiCoreOptions {
  readonly store: Store;
  readonly serviceIps: ServiceIpAllocator;
  readonly webhooks?: WebhookCaller;
  /** Picks a node for a new pod; undefined leaves it Pending. */
  readonly schedule?: (pod: KubeObject) => string | undefined;
  /** Whether a node's kubelet finalizes pod deletion (else pods are removed at once). */
  readonly hasKubelet?: (nodeName: string) => boolean;
  /** Admission of what `user` writes (RBAC escalation prevention); throws to refuse. */
  readonly admit?: (t: ResourceType, user: RequestUser, obj: KubeObject) => void;
}

export interface RequestUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
}

const admin: RequestUser = {
  username: 'kubernetes-admin',
  groups: ['system:masters', 'system:authenticated'],
};

export class ApiCore {
  readonly store: Store;
  private readonly ips: ServiceIpAllocator;

  constructor(private readonly options: ApiCoreOptions) {
    this.store = options.store;
    this.ips = options.serviceIps;
    // ClusterIPs return to the pool with their service, whoever deletes it.
    this.store.subscribe((e) => {
      if (e.key === 'services' && e.type === 'DELETED') {
        for (const ip of clusterIps(e.object)) this.ips.release(ip);
      }
    });
  }

  async create(
    t: ResourceType,
    namespace: string | undefined,
    input: unknown,
    user: RequestUser = admin,
    dryRun = false,
  ): Promise<KubeObject> {
    if (!isRecord(input) || !isRecord(input['metadata'])) {
      if (!isRecord(input)) throw badRequest('the request body must be a JSON object');
      input['metadata'] = {};
    }
    const obj = clone(input) as KubeObject;
    if (t.namespaced) {
      const ns = namespace ?? obj.metadata.namespace ?? 'default';
      if (obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = ns;
      const nsObj = this.store.get('namespaces', undefined, ns);
      if (!nsObj) throw notFound('namespaces', '', ns);
      if (nsObj.metadata.deletionTimestamp) {
        throw new ApiError(
          403,
          'Forbidden',
          `${t.plural} "${obj.metadata.name ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        );
      }
    }
    const key = resourceKey(t);
    let out = obj;
    let scheduledTo: string | undefined;
    switch (key) {
      case 'pods':
        defaultPod(out);
        this.checkServiceAccount(out);
        if (this.options.webhooks) {
          out = await this.options.webhooks.mutate({
            type: t,
            operation: 'CREATE',
            namespace: out.metadata.namespace,
            object: out,
            user,
          });
        }
        if (!field(out, 'spec', 'nodeName')) {
          const node = this.options.schedule?.(out);
          if (node && isRecord(out['spec'])) {
            out['spec']['nodeName'] = node;
            scheduledTo = node;
          }
        }
        validatePod(out);
        break;
      case 'apps/deployments':
        defaultDeployment(out);
        break;
      case 'apps/replicasets':
        defaultReplicaSet(out);
        break;
      case 'services':
        defaultService(out);
        if (!dryRun) this.allocateClusterIp(out);
        break;
      case 'secrets':
        defaultSecret(out);
        break;
      case 'namespaces':
        defaultNamespace(out);
        break;
      case 'admissionregistration.k8s.io/mutatingwebhookconfigurations':
      case 'admissionregistration.k8s.io/validatingwebhookconfigurations':
        defaultWebhookConfiguration(out);
        break;
    }
    this.options.admit?.(t, user, out);
    if (dryRun) return out;
    try {
      await this.options.webhooks?.validate({
        type: t,
        operation: 'CREATE',
        namespace: out.metadata.namespace,
        object: out,
        user,
      });
      const created = this.store.create(key, out);
      if (key === 'namespaces') this.populateNamespace(created.metadata.name ?? '');
      if (scheduledTo)
        recordEvent(this.store, created, {
          type: 'Normal',
          reason: 'Scheduled',
          message: `Successfully assigned ${created.metadata.namespace ?? ''}/${created.metadata.name ?? ''} to ${scheduledTo}`,
          component: 'default-scheduler',
        });
      return created;
    } catch (err) {
      if (key === 'services') for (const ip of clusterIps(out)) this.ips.release(ip);
      throw err;
    }
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    return this.store.mustGet(resourceKey(t), t.namespaced ? namespace : undefined, name);
  }

  update(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    input: unknown,
    subresource?: string,
    user: RequestUser = admin,
  ): KubeObject {
    if (!isRecord(input) || !isRecord(input['metadata']))
      throw badRequest('the request body must be a JSON object with metadata');
    const obj = clone(input) as KubeObject;
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    obj.metadata.name = name;
    if (t.namespaced) obj.metadata.namespace = namespace ?? 'default';
    const key = resourceKey(t);
    const old = this.store.mustGet(key, t.namespaced ? namespace : undefined, name);
    if (key === 'services' && subresource !== 'status') this.keepClusterIp(old, obj);
    if (key === 'secrets') defaultSecret(obj);
    if (key === 'pods' && subresource !== 'status') validatePodUpdate(old, obj);
    this.options.admit?.(t, user, obj);
    const updated = this.store.update(key, obj, subresource === 'status' ? { subresource: 'status' } : {});
    return this.finishIfReleased(t, updated);
  }

  async patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    body: unknown,
    subresource?: string,
    user: RequestUser = admin,
  ): Promise<KubeObject> {
    const key = resourceKey(t);
    const existing = this.store.get(key, t.namespaced ? namespace : undefined, name);
    if (!existing) {
      if (patchType === 'apply') return this.create(t, namespace, body, user);
      throw notFound(t.plural, t.group, name);
    }
    let next: unknown;
    switch (patchType) {
      case 'json':
        next = jsonPatch(existing, body);
        break;
      case 'merge':
        next = mergePatch(existing, body);
        break;
      case 'strategic':
      case 'apply':
        next = strategicMergePatch(existing, body);
        break;
    }
    if (!isRecord(next) || !isRecord(next['metadata'])) throw badRequest('the patch removed metadata');
    // A patch is applied to the current version: no optimistic-concurrency check unless it sets one.
    const patchRv = str(field(body, 'metadata', 'resourceVersion'));
    (next as KubeObject).metadata.resourceVersion = patchRv ?? existing.metadata.resourceVersion ?? '';
    return this.update(t, namespace, name, next, subresource, user);
  }

  delete(t: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): KubeObject {
    const key = resourceKey(t);
    const ns = t.namespaced ? namespace : undefined;
    const obj = this.store.mustGet(key, ns, name);
    if (obj.metadata.deletionTimestamp) {
      if (key === 'pods' && opts.gracePeriodSeconds === 0) return this.store.delete(key, ns, name);
      return obj;
    }
    if (key === 'namespaces') {
      if (['default', 'kube-system', 'kube-public', 'kube-node-lease'].includes(name)) {
        throw new ApiError(
          403,
          'Forbidden',
          `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        );
      }
      obj.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      obj['status'] = { phase: 'Terminating' };
      const terminating = this.store.update(key, obj, {}); // namespace updates carry status
      setImmediate(() => this.finishNamespace(name));
      return terminating;
    }
    const nodeName = str(field(obj, 'spec', 'nodeName'));
    const graceful =
      key === 'pods' &&
      nodeName !== undefined &&
      (this.options.hasKubelet?.(nodeName) ?? false) &&
      opts.gracePeriodSeconds !== 0;
    const hasFinalizers = (obj.metadata.finalizers ?? []).length > 0;
    if (graceful || hasFinalizers) {
      obj.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      if (graceful) {
        obj.metadata.deletionGracePeriodSeconds =
          opts.gracePeriodSeconds ?? Number(field(obj, 'spec', 'terminationGracePeriodSeconds') ?? 30);
      }
      return this.store.update(key, obj, {});
    }
    return this.store.delete(key, ns, name);
  }

  /** Removes an object whose deletion was pending once its last finalizer is gone. */
  private finishIfReleased(t: ResourceType, obj: KubeObject): KubeObject {
    if (
      obj.metadata.deletionTimestamp &&
      (obj.metadata.finalizers ?? []).length === 0 &&
      t.plural !== 'pods' &&
      t.plural !== 'namespaces'
    ) {
      return this.store.delete(resourceKey(t), obj.metadata.namespace, obj.metadata.name ?? '');
    }
    return obj;
  }

  private finishNamespace(name: string): void {
    const keys = [
      'apps/deployments',
      'apps/replicasets',
      'services',
      'endpoints',
      'configmaps',
      'secrets',
      'serviceaccounts',
      'events',
      'discovery.k8s.io/endpointslices',
      'rbac.authorization.k8s.io/roles',
      'rbac.authorization.k8s.io/rolebindings',
    ];
    for (const k of keys) {
      for (const o of this.store.list(k, name)) {
        try {
          this.store.delete(k, name, o.metadata.name ?? '');
        } catch {
          /* already gone */
        }
      }
    }
    const pods = this.store.list('pods', name);
    for (const p of pods) {
      try {
        this.delete(
          {
            group: '',
            version: 'v1',
            kind: 'Pod',
            plural: 'pods',
            singular: 'pod',
            namespaced: true,
            shortNames: [],
            verbs: [],
            subresources: [],
          },
          name,
          p.metadata.name ?? '',
          { gracePeriodSeconds: 1 },
        );
      } catch {
        /* already gone */
      }
    }
    if (this.store.list('pods', name).length > 0) {
      setTimeout(() => this.finishNamespace(name), 200).unref();
      return;
    }
    try {
      this.store.delete('namespaces', undefined, name);
    } catch {
      /* already gone */
    }
  }

  private populateNamespace(ns: string): void {
    try {
      this.store.create('serviceaccounts', { metadata: { name: 'default', namespace: ns } });
    } catch {
      /* exists */
    }
    const ca = this.caPem;
    if (ca) {
      try {
        this.store.create('configmaps', {
          metadata: {
            name: 'kube-root-ca.crt',
            namespace: ns,
            annotations: {
              'kubernetes.io/description':
                'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
            },
          },
          data: { 'ca.crt': ca },
        });
      } catch {
        /* exists */
      }
    }
  }

  /** The ServiceAccount admission plugin: a pod's service account must exist. */
  private checkServiceAccount(pod: KubeObject): void {
    const ns = pod.metadata.namespace ?? 'default';
    const sa = str(field(pod, 'spec', 'serviceAccountName')) ?? 'default';
    if (this.store.get('serviceaccounts', ns, sa)) return;
    const name = pod.metadata.name ?? pod.metadata.generateName ?? '';
    throw new ApiError(
      403,
      'Forbidden',
      `pods "${name}" is forbidden: error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`,
      { name, kind: 'pods' },
    );
  }

  /** The cluster CA, published to every namespace as kube-root-ca.crt. */
  caPem: string | undefined;

  private allocateClusterIp(svc: KubeObject): void {
    const spec = svc['spec'] as Record<string, unknown>;
    const name = svc.metadata.name ?? '';
    if (spec['type'] === 'ExternalName') {
      delete spec['clusterIP'];
      return;
    }
    const requested = Array.isArray(spec['clusterIPs']) ? (spec['clusterIPs'] as unknown[]).map(String) : [];
    const ip = str(spec['clusterIP']) ?? requested[0] ?? '';
    if (ip === 'None') {
      spec['clusterIP'] = 'None';
      spec['clusterIPs'] = ['None'];
      return;
    }
    if (ip === '') {
      const allocated = this.ips.allocate();
      spec['clusterIP'] = allocated;
      spec['clusterIPs'] = [allocated];
    } else {
      this.ips.reserve(name, ip);
      spec['clusterIP'] = ip;
      spec['clusterIPs'] = [ip];
    }
    if (spec['type'] === 'NodePort' || spec['type'] === 'LoadBalancer') {
      let next = 30000 + Math.floor(Math.random() * 2000);
      for (const p of Array.isArray(spec['ports']) ? (spec['ports'] as Record<string, unknown>[]) : [])
        p['nodePort'] ??= next++;
    }
  }

  private keepClusterIp(old: KubeObject, obj: KubeObject): void {
    const oldSpec = isRecord(old['spec']) ? old['spec'] : {};
    const spec = isRecord(obj['spec']) ? obj['spec'] : {};
    obj['spec'] = spec;
    const oldIp = str(oldSpec['clusterIP']);
    const newIp = str(spec['clusterIP']);
    if (newIp === undefined || newIp === '') {
      if (oldIp !== undefined) spec['clusterIP'] = oldIp;
      if (oldSpec['clusterIPs'] !== undefined) spec['clusterIPs'] = oldSpec['clusterIPs'];
    } else if (newIp !== oldIp) {
      throw invalid('Service', '', obj.metadata.name ?? '', [
        {
          field: 'spec.clusterIPs[0]',
          message: `Invalid value: []string{"${newIp}"}: may not change once set`,
        },
      ]);
    }
    if (spec['clusterIPs'] === undefined && oldSpec['clusterIPs'] !== undefined)
      spec['clusterIPs'] = oldSpec['clusterIPs'];
    defaultService(obj);
  }
}

function clusterIps(svc: KubeObject): string[] {
  const ips = field(svc, 'spec', 'clusterIPs');
  const list = Array.isArray(ips) ? ips.map(String) : [];
  const ip = str(field(svc, 'spec', 'clusterIP'));
  if (ip && !list.includes(ip)) list.push(ip);
  return list.filter((x) => x !== 'None' && x !== '');
}

function validatePod(pod: KubeObject): void {
  const containers = field(pod, 'spec', 'containers');
  const name = pod.metadata.name ?? pod.metadata.generateName ?? '';
  if (!Array.isArray(containers) || containers.length === 0) {
    throw invalid('Pod', '', name, [{ field: 'spec.containers', message: 'Required value' }]);
  }
  containers.forEach((c: unknown, i) => {
    if (!str(field(c, 'name')))
      throw invalid('Pod', '', name, [{ field: `spec.containers[${i}].name`, message: 'Required value' }]);
    if (!str(field(c, 'image')))
      throw invalid('Pod', '', name, [{ field: `spec.containers[${i}].image`, message: 'Required value' }]);
  });
  validateProjectedTokens(pod, name);
}

/** A projected serviceAccountToken lives 10 minutes to 2^32 seconds, as TokenRequest allows. */
function validateProjectedTokens(pod: KubeObject, name: string): void {
  const volumes = field(pod, 'spec', 'volumes');
  (Array.isArray(volumes) ? volumes : []).forEach((v: unknown, i) => {
    const sources = field(v, 'projected', 'sources');
    (Array.isArray(sources) ? sources : []).forEach((src: unknown, j) => {
      const exp = field(src, 'serviceAccountToken', 'expirationSeconds');
      if (exp === undefined || exp === null) return;
      const where = `spec.volumes[${i}].projected.sources[${j}].serviceAccountToken.expirationSeconds`;
      const n = Number(exp);
      if (n < 600)
        throw invalid('Pod', '', name, [
          { field: where, message: `Invalid value: ${n}: may not specify a duration less than 10 minutes` },
        ]);
      if (n > 2 ** 32)
        throw invalid('Pod', '', name, [
          {
            field: where,
            message: `Invalid value: ${n}: may not specify a duration larger than 2^32 seconds`,
          },
        ]);
    });
  });
}

/** Pod spec is immutable except container images and a few fields, as the apiserver enforces. */
function validatePodUpdate(old: KubeObject, obj: KubeObject): void {
  const strip = (o: KubeObject) => {
    const spec = clone(isRecord(o['spec']) ? o['spec'] : {});
    for (const c of Array.isArray(spec['containers'])
      ? (spec['containers'] as Record<string, unknown>[])
      : [])
      delete c['image'];
    delete spec['activeDeadlineSeconds'];
    delete spec['tolerations'];
    delete spec['terminationGracePeriodSeconds'];
    return JSON.stringify(spec);
  };
  if (obj['spec'] === undefined) obj['spec'] = old['spec'];
  if (strip(old) !== strip(obj)) {
    throw invalid('Pod', '', obj.metadata.name ?? '', [
      {
        field: 'spec',
        message:
          'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      },
    ]);
  }
}
