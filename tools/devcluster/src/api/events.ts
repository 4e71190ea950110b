// Events (core/v1) as the kubelet, the scheduler and the controllers record them: one object per
// (object, reason, message), its count and lastTimestamp bumped on repeats, as client-go's recorder
// aggregates. `kubectl get events` and the Events of `kubectl describe` read them.
import { clone, type KubeObject } from './object.js';
import type { Store } from './store.js';

export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  /** The reporting component, e.g. kubelet, default-scheduler, deployment-controller. */
  readonly component: string;
  /** The node, for kubelet events. */
  readonly host?: string;
  /** e.g. spec.containers{web}. */
  readonly fieldPath?: string;
}

// Event names end in the hex Unix time in nanoseconds (client-go's recorder), so they list in order.
let lastNano = 0n;
function nanoStamp(): string {
  let n = BigInt(Date.now()) * 1_000_000n;
  if (n <= lastNano) n = lastNano + 1n;
  lastNano = n;
  return n.toString(16);
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function recordEvent(store: Store, involved: KubeObject, e: EventSpec): void {
  const ns = involved.metadata.namespace ?? 'default';
  const uid = involved.metadata.uid ?? '';
  try {
    const same = store
      .list('events', ns)
      .find(
        (x) =>
          (x['involvedObject'] as { uid?: string } | undefined)?.uid === uid &&
          x['reason'] === e.reason &&
          x['message'] === e.message,
      );
    if (same) {
      const next = clone(same);
      next['count'] = Number(same['count'] ?? 1) + 1;
      next['lastTimestamp'] = now();
      store.update('events', next);
      return;
    }
    const t = now();
    store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${involved.metadata.name ?? ''}.${nanoStamp()}`, namespace: ns },
      involvedObject: {
        kind: involved.kind,
        namespace: involved.metadata.namespace,
        name: involved.metadata.name,
        uid,
        apiVersion: involved.apiVersion,
        resourceVersion: involved.metadata.resourceVersion,
        ...(e.fieldPath ? { fieldPath: e.fieldPath } : {}),
      },
      reason: e.reason,
      message: e.message,
      source: { component: e.component, ...(e.host ? { host: e.host } : {}) },
      firstTimestamp: t,
      lastTimestamp: t,
      count: 1,
      type: e.type,
      eventTime: null,
      reportingComponent: e.component,
      reportingInstance: e.host ?? '',
    });
  } catch {
    // Events are best effort (e.g. the namespace is being deleted).
  }
}
