// Deployment and ReplicaSet controllers: template-hash named ReplicaSets, replacement of pods when the
// template changes (old ReplicaSets scale down as new pods become ready), and status counters.
import { createHash } from 'node:crypto';
import { ApiError } from '../api/errors.js';
import { recordEvent } from '../api/events.js';
import type { ApiCore } from '../api/core.js';
import { labelSelectorMatches } from '../api/label-selector.js';
import { clone, field, isRecord, str, type KubeObject } from '../api/object.js';
import { resourceTypes } from '../api/resources.js';
import type { Store } from '../api/store.js';
import { Reconciler } from './reconciler.js';

const podType = resourceTypes.find((t) => t.plural === 'pods')!;
const rsType = resourceTypes.find((t) => t.plural === 'replicasets')!;

export function isPodReady(pod: KubeObject): boolean {
  const conds = field(pod, 'status', 'conditions');
  return (
    Array.isArray(conds) && conds.some((c) => field(c, 'type') === 'Ready' && field(c, 'status') === 'True')
  );
}

function ownedBy(o: KubeObject, owner: KubeObject): boolean {
  return (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid);
}

function ownerRef(owner: KubeObject) {
  return {
    apiVersion: owner.apiVersion ?? '',
    kind: owner.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Like the controller's pod-template-hash: a short stable hash of the pod template. */
export function templateHash(template: unknown): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const digest = createHash('sha256').update(JSON.stringify(template)).digest();
  let s = '';
  for (let i = 0; i < 10; i++) s += alphabet[(digest[i] ?? 0) % alphabet.length];
  return s;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export function startWorkloadControllers(core: ApiCore, log: (msg: string) => void): Reconciler[] {
  const store = core.store;
  const deployments = new Reconciler(
    store,
    'deployment-controller',
    (e) => e.key === 'apps/deployments' || e.key === 'apps/replicasets',
    () => reconcileDeployments(core),
    log,
  );
  const replicasets = new Reconciler(
    store,
    'replicaset-controller',
    (e) => e.key === 'apps/replicasets' || e.key === 'pods',
    () => reconcileReplicaSets(core),
    log,
  );
  const gc = new Reconciler(
    store,
    'garbage-collector',
    (e) => e.type === 'DELETED' && e.object.metadata.uid !== undefined,
    () => collectGarbage(core),
    log,
  );
  return [deployments, replicasets, gc];
}

function reconcileDeployments(core: ApiCore): void {
  const store = core.store;
  for (const d of store.list('apps/deployments')) {
    if (d.metadata.deletionTimestamp) continue;
    const ns = d.metadata.namespace ?? 'default';
    const spec = isRecord(d['spec']) ? d['spec'] : {};
    const desired = Number(spec['replicas'] ?? 1);
    const template = clone(isRecord(spec['template']) ? spec['template'] : {});
    const hash = templateHash(template);
    const owned = store.list('apps/replicasets', ns).filter((rs) => ownedBy(rs, d));
    let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const revision =
      1 +
      Math.max(
        0,
        ...owned.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)),
      );
    if (!current) {
      const tmeta = isRecord(template['metadata']) ? template['metadata'] : {};
      const labels = {
        ...(isRecord(tmeta['labels']) ? (tmeta['labels'] as Record<string, string>) : {}),
        'pod-template-hash': hash,
      };
      template['metadata'] = { ...tmeta, labels };
      const selector = clone(isRecord(spec['selector']) ? spec['selector'] : {});
      selector['matchLabels'] = {
        ...(isRecord(selector['matchLabels']) ? selector['matchLabels'] : {}),
        'pod-template-hash': hash,
      };
      current = store.create('apps/replicasets', {
        metadata: {
          name: `${d.metadata.name ?? ''}-${hash}`,
          namespace: ns,
          labels,
          annotations: {
            'deployment.kubernetes.io/revision': String(revision),
            'deployment.kubernetes.io/desired-replicas': String(desired),
          },
          ownerReferences: [ownerRef(d)],
        },
        spec: { replicas: desired, selector, template },
        status: { replicas: 0 },
      });
      if (desired > 0) scaled(store, d, current, 0, desired);
    } else if (Number(field(current, 'spec', 'replicas')) !== desired) {
      const from = Number(field(current, 'spec', 'replicas'));
      const upd = clone(current);
      (upd['spec'] as Record<string, unknown>)['replicas'] = desired;
      current = store.update('apps/replicasets', upd);
      scaled(store, d, current, from, desired);
    }
    const newReady = Number(field(current, 'status', 'readyReplicas') ?? 0);
    for (const rs of owned) {
      if (rs.metadata.uid === current.metadata.uid) continue;
      const want = Math.max(0, Math.min(Number(field(rs, 'spec', 'replicas') ?? 0), desired - newReady));
      if (Number(field(rs, 'spec', 'replicas') ?? 0) !== want) {
        const upd = clone(rs);
        (upd['spec'] as Record<string, unknown>)['replicas'] = want;
        store.update('apps/replicasets', upd);
        scaled(store, d, rs, Number(field(rs, 'spec', 'replicas') ?? 0), want);
      }
    }
    const all = store.list('apps/replicasets', ns).filter((rs) => ownedBy(rs, d));
    const sum = (f: string) => all.reduce((n, rs) => n + Number(field(rs, 'status', f) ?? 0), 0);
    const ready = sum('readyReplicas');
    const available = sum('availableReplicas');
    const updated = Number(field(current, 'status', 'replicas') ?? 0);
    const old = isRecord(d['status']) ? d['status'] : {};
    const oldConds = Array.isArray(old['conditions']) ? (old['conditions'] as Record<string, unknown>[]) : [];
    const cond = (type: string, status: string, reason: string, message: string) => {
      const prev = oldConds.find((c) => c['type'] === type);
      const same = prev && prev['status'] === status && prev['reason'] === reason;
      const t = same ? String(prev['lastTransitionTime']) : now();
      return {
        type,
        status,
        lastUpdateTime: same ? String(prev['lastUpdateTime']) : t,
        lastTransitionTime: t,
        reason,
        message,
      };
    };
    const isAvailable = available >= desired;
    const complete =
      updated === desired &&
      ready >= desired &&
      all.every((rs) => rs === current || Number(field(rs, 'status', 'replicas') ?? 0) === 0);
    const status: Record<string, unknown> = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sum('replicas'),
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      ...(sum('replicas') - available > 0 ? { unavailableReplicas: sum('replicas') - available } : {}),
      conditions: [
        cond(
          'Available',
          isAvailable ? 'True' : 'False',
          isAvailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          isAvailable
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        ),
        cond(
          'Progressing',
          'True',
          complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          complete
            ? `ReplicaSet "${current.metadata.name ?? ''}" has successfully progressed.`
            : `ReplicaSet "${current.metadata.name ?? ''}" is progressing.`,
        ),
      ],
    };
    for (const k of ['readyReplicas', 'availableReplicas', 'updatedReplicas'])
      if (status[k] === 0) delete status[k];
    const upd = clone(d);
    upd['status'] = status;
    const ann = (upd.metadata.annotations ??= {});
    const rev = current.metadata.annotations?.['deployment.kubernetes.io/revision'];
    if (rev && ann['deployment.kubernetes.io/revision'] !== rev) {
      ann['deployment.kubernetes.io/revision'] = rev;
      store.update('apps/deployments', upd);
    }
    const fresh = store.get('apps/deployments', ns, d.metadata.name ?? '');
    if (fresh) store.update('apps/deployments', { ...fresh, status }, { subresource: 'status' });
  }
}

async function reconcileReplicaSets(core: ApiCore): Promise<void> {
  const store = core.store;
  for (const rs of store.list('apps/replicasets')) {
    if (rs.metadata.deletionTimestamp) continue;
    const ns = rs.metadata.namespace ?? 'default';
    const desired = Number(field(rs, 'spec', 'replicas') ?? 1);
    const selector = field(rs, 'spec', 'selector');
    const pods = store
      .list('pods', ns)
      .filter(
        (p) =>
          ownedBy(p, rs) &&
          !p.metadata.deletionTimestamp &&
          labelSelectorMatches(selector, p.metadata.labels ?? {}),
      )
      .filter((p) => !['Succeeded', 'Failed'].includes(str(field(p, 'status', 'phase')) ?? ''));
    if (pods.length < desired) {
      const template = clone((field(rs, 'spec', 'template') ?? {}) as Record<string, unknown>);
      const tmeta = isRecord(template['metadata']) ? template['metadata'] : {};
      for (let i = pods.length; i < desired; i++) {
        try {
          await core.create(podType, ns, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              ...clone(tmeta),
              generateName: `${rs.metadata.name ?? ''}-`,
              namespace: ns,
              ownerReferences: [ownerRef(rs)],
            },
            spec: clone(template['spec'] ?? {}),
          });
        } catch (err) {
          if (err instanceof ApiError)
            recordEvent(
              core.store,
              { ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' },
              {
                type: 'Warning',
                reason: 'FailedCreate',
                message: `Error creating: ${err.message}`,
                component: 'replicaset-controller',
              },
            );
          throw err;
        }
      }
    } else if (pods.length > desired) {
      const victims = [...pods]
        .sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)))
        .slice(0, pods.length - desired);
      for (const p of victims) core.delete(podType, ns, p.metadata.name ?? '');
    }
    const fresh = store.get('apps/replicasets', ns, rs.metadata.name ?? '');
    if (!fresh) continue;
    const current = store.list('pods', ns).filter((p) => ownedBy(p, rs) && !p.metadata.deletionTimestamp);
    const ready = current.filter(isPodReady).length;
    const status: Record<string, unknown> = {
      replicas: current.length,
      fullyLabeledReplicas: current.length,
      observedGeneration: fresh.metadata.generation ?? 1,
      ...(ready ? { readyReplicas: ready, availableReplicas: ready } : {}),
    };
    store.update('apps/replicasets', { ...fresh, status }, { subresource: 'status' });
  }
  void rsType;
}

/** Deletes objects whose owner no longer exists (background cascading deletion). */
function collectGarbage(core: ApiCore): void {
  const store = core.store;
  const keys = [
    'apps/replicasets',
    'pods',
    'services',
    'endpoints',
    'configmaps',
    'secrets',
    'apps/deployments',
    'discovery.k8s.io/endpointslices',
  ];
  const live = new Set<string>();
  for (const t of resourceTypes) {
    const key = t.group ? `${t.group}/${t.plural}` : t.plural;
    for (const o of store.list(key)) live.add(o.metadata.uid ?? '');
  }
  for (const key of keys) {
    for (const o of store.list(key)) {
      const refs = o.metadata.ownerReferences ?? [];
      if (refs.length === 0 || o.metadata.deletionTimestamp) continue;
      if (refs.every((r) => !live.has(r.uid))) {
        const t = resourceTypes.find((x) => (x.group ? `${x.group}/${x.plural}` : x.plural) === key)!;
        try {
          core.delete(t, o.metadata.namespace, o.metadata.name ?? '');
        } catch {
          /* gone meanwhile */
        }
      }
    }
  }
}

/** The deployment controller's ScalingReplicaSet event. */
function scaled(store: Store, d: KubeObject, rs: KubeObject, from: number, to: number): void {
  recordEvent(
    store,
    { ...d, apiVersion: 'apps/v1', kind: 'Deployment' },
    {
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      message: `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata.name ?? ''} from ${from} to ${to}`,
      component: 'deployment-controller',
    },
  );
}
