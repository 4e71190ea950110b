// Endpoints and EndpointSlice controller: ready and not-ready pod addresses of each selector service,
// with named target ports resolved against each pod's container ports.
import { clone, field, isRecord, str, type KubeObject } from '../api/object.js';
import { labelsMatch } from '../api/selectors.js';
import type { Store } from '../api/store.js';
import { Reconciler } from './reconciler.js';
import { isPodReady } from './workloads.js';

type Rec = Record<string, unknown>;

interface PortOut {
  name?: string;
  port: number;
  protocol: string;
}

function resolvePort(pod: KubeObject, target: unknown): number | undefined {
  if (typeof target === 'number') return target;
  if (typeof target === 'string' && /^\d+$/.test(target)) return Number(target);
  const containers = field(pod, 'spec', 'containers');
  for (const c of Array.isArray(containers) ? containers : []) {
    const ports = field(c, 'ports');
    for (const p of Array.isArray(ports) ? ports : []) {
      if (field(p, 'name') === target) return Number(field(p, 'containerPort'));
    }
  }
  return undefined;
}

export function startEndpointsController(store: Store, log: (msg: string) => void): Reconciler {
  return new Reconciler(
    store,
    'endpoints-controller',
    (e) => e.key === 'services' || e.key === 'pods',
    () => reconcile(store),
    log,
  );
}

function reconcile(store: Store): void {
  for (const svc of store.list('services')) {
    const ns = svc.metadata.namespace ?? 'default';
    const name = svc.metadata.name ?? '';
    const selector = field(svc, 'spec', 'selector');
    if (!isRecord(selector) || Object.keys(selector).length === 0) continue; // managed by whoever made it
    const svcPorts = Array.isArray(field(svc, 'spec', 'ports')) ? (field(svc, 'spec', 'ports') as Rec[]) : [];
    const pods = store
      .list('pods', ns)
      .filter(
        (p) =>
          labelsMatch(selector as Record<string, string>, p.metadata.labels ?? {}) &&
          str(field(p, 'status', 'podIP')) &&
          !p.metadata.deletionTimestamp,
      );
    const subsets = new Map<string, { ports: PortOut[]; ready: Rec[]; notReady: Rec[] }>();
    for (const pod of pods) {
      const ports: PortOut[] = [];
      for (const sp of svcPorts) {
        const port = resolvePort(pod, sp['targetPort'] ?? sp['port']);
        if (port === undefined) continue;
        ports.push({
          ...(sp['name'] ? { name: String(sp['name']) } : {}),
          port,
          protocol: String(sp['protocol'] ?? 'TCP'),
        });
      }
      const sig = JSON.stringify(ports);
      const subset = subsets.get(sig) ?? { ports, ready: [], notReady: [] };
      subsets.set(sig, subset);
      const addr = {
        ip: str(field(pod, 'status', 'podIP')),
        nodeName: str(field(pod, 'spec', 'nodeName')),
        targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      (isPodReady(pod) ? subset.ready : subset.notReady).push(addr);
    }
    const out = [...subsets.values()].map((s) => ({
      ...(s.ready.length ? { addresses: s.ready } : {}),
      ...(s.notReady.length ? { notReadyAddresses: s.notReady } : {}),
      ports: s.ports,
    }));
    const existing = store.get('endpoints', ns, name);
    const labels = { ...(svc.metadata.labels ?? {}) };
    if (!existing) store.create('endpoints', { metadata: { name, namespace: ns, labels }, subsets: out });
    else {
      const upd = clone(existing);
      if (out.length) upd['subsets'] = out;
      else delete upd['subsets'];
      upd.metadata.labels = labels;
      store.update('endpoints', upd);
    }
    syncSlice(store, svc, subsets);
  }
}

function syncSlice(
  store: Store,
  svc: KubeObject,
  subsets: Map<string, { ports: PortOut[]; ready: Rec[]; notReady: Rec[] }>,
): void {
  const ns = svc.metadata.namespace ?? 'default';
  const name = `${svc.metadata.name ?? ''}-slice`;
  const endpoints: Rec[] = [];
  let ports: PortOut[] = [];
  for (const s of subsets.values()) {
    ports = s.ports;
    for (const [list, ready] of [
      [s.ready, true],
      [s.notReady, false],
    ] as const) {
      for (const a of list) {
        endpoints.push({
          addresses: [a['ip']],
          conditions: { ready, serving: ready, terminating: false },
          nodeName: a['nodeName'],
          targetRef: a['targetRef'],
        });
      }
    }
  }
  const body = {
    metadata: {
      name,
      namespace: ns,
      labels: {
        'kubernetes.io/service-name': svc.metadata.name ?? '',
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          name: svc.metadata.name ?? '',
          uid: svc.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
  const existing = store.get('discovery.k8s.io/endpointslices', ns, name);
  if (!existing) store.create('discovery.k8s.io/endpointslices', body);
  else
    store.update('discovery.k8s.io/endpointslices', {
      ...existing,
      endpoints,
      ports,
      metadata: { ...existing.metadata, labels: body.metadata.labels },
    });
}
