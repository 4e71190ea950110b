// Server-side printing: `meta.k8s.io/v1 Table` responses as kubectl asks for them (its human-readable
// `get` output comes from these columns; priority 1 columns are shown with `-o wide`).
import { field, isRecord, str, type KubeObject } from './object.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: KubeObject, now: Date) => unknown;
}

export function age(ts: string | undefined, now: Date): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const nameCol: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: (o) => o.metadata.name ?? '',
};
const ageCol: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) => age(o.metadata.creationTimestamp, now),
};

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function selectorString(sel: unknown): string {
  if (!isRecord(sel)) return '<none>';
  const parts = Object.entries(sel).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? parts.join(',') : '<none>';
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  let reason = str(field(o, 'status', 'reason')) ?? str(field(o, 'status', 'phase')) ?? 'Pending';
  for (const cs of arr(field(o, 'status', 'containerStatuses'))) {
    const waiting = str(field(cs, 'state', 'waiting', 'reason'));
    const terminated = str(field(cs, 'state', 'terminated', 'reason'));
    if (waiting && waiting !== '') reason = waiting;
    else if (terminated) reason = terminated;
  }
  return reason;
}

const columnsByKind: Record<string, Column[]> = {
  Event: [
    {
      name: 'Last Seen',
      type: 'string',
      cell: (o, now) => age(str(o['lastTimestamp']) ?? str(o.metadata.creationTimestamp), now),
    },
    { name: 'Type', type: 'string', cell: (o) => str(o['type']) ?? '' },
    { name: 'Reason', type: 'string', cell: (o) => str(o['reason']) ?? '' },
    {
      name: 'Object',
      type: 'string',
      cell: (o) =>
        `${(str(field(o, 'involvedObject', 'kind')) ?? '').toLowerCase()}/${str(field(o, 'involvedObject', 'name')) ?? ''}`,
    },
    { name: 'Message', type: 'string', cell: (o) => str(o['message']) ?? '' },
  ],
  Pod: [
    nameCol,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) => {
        const cs = arr(field(o, 'status', 'containerStatuses'));
        const total = arr(field(o, 'spec', 'containers')).length;
        return `${cs.filter((c) => field(c, 'ready') === true).length}/${total}`;
      },
    },
    { name: 'Status', type: 'string', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o) =>
        String(
          arr(field(o, 'status', 'containerStatuses')).reduce(
            (n: number, c) => n + Number(field(c, 'restartCount') ?? 0),
            0,
          ),
        ),
    },
    ageCol,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => str(field(o, 'status', 'podIP')) ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => str(field(o, 'spec', 'nodeName')) ?? '<none>' },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: () => '<none>' },
    { name: 'Readiness Gates', type: 'string', priority: 1, cell: () => '<none>' },
  ],
  Node: [
    nameCol,
    {
      name: 'Status',
      type: 'string',
      cell: (o) => {
        const ready = arr(field(o, 'status', 'conditions')).find((c) => field(c, 'type') === 'Ready');
        return field(ready, 'status') === 'True' ? 'Ready' : 'NotReady';
      },
    },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    ageCol,
    {
      name: 'Version',
      type: 'string',
      cell: (o) => str(field(o, 'status', 'nodeInfo', 'kubeletVersion')) ?? '',
    },
    {
      name: 'Internal-IP',
      type: 'string',
      priority: 1,
      cell: (o) =>
        str(
          field(
            arr(field(o, 'status', 'addresses')).find((a) => field(a, 'type') === 'InternalIP'),
            'address',
          ),
        ) ?? '<none>',
    },
    { name: 'External-IP', type: 'string', priority: 1, cell: () => '<none>' },
    {
      name: 'OS-Image',
      type: 'string',
      priority: 1,
      cell: (o) => str(field(o, 'status', 'nodeInfo', 'osImage')) ?? '',
    },
    {
      name: 'Kernel-Version',
      type: 'string',
      priority: 1,
      cell: (o) => str(field(o, 'status', 'nodeInfo', 'kernelVersion')) ?? '',
    },
    {
      name: 'Container-Runtime',
      type: 'string',
      priority: 1,
      cell: (o) => str(field(o, 'status', 'nodeInfo', 'containerRuntimeVersion')) ?? '',
    },
  ],
  Service: [
    nameCol,
    { name: 'Type', type: 'string', cell: (o) => str(field(o, 'spec', 'type')) ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str(field(o, 'spec', 'clusterIP')) ?? '<none>' },
    { name: 'External-IP', type: 'string', cell: () => '<none>' },
    {
      name: 'Port(s)',
      type: 'string',
      cell: (o) => {
        const ports = arr(field(o, 'spec', 'ports')).map((p) => {
          const np = field(p, 'nodePort');
          return `${String(field(p, 'port'))}${np ? `:${String(np)}` : ''}/${str(field(p, 'protocol')) ?? 'TCP'}`;
        });
        return ports.length ? ports.join(',') : '<none>';
      },
    },
    ageCol,
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      cell: (o) => selectorString(field(o, 'spec', 'selector')),
    },
  ],
  Deployment: [
    nameCol,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) =>
        `${Number(field(o, 'status', 'readyReplicas') ?? 0)}/${Number(field(o, 'spec', 'replicas') ?? 0)}`,
    },
    { name: 'Up-to-date', type: 'integer', cell: (o) => Number(field(o, 'status', 'updatedReplicas') ?? 0) },
    { name: 'Available', type: 'integer', cell: (o) => Number(field(o, 'status', 'availableReplicas') ?? 0) },
    ageCol,
    {
      name: 'Containers',
      type: 'string',
      priority: 1,
      cell: (o) =>
        arr(field(o, 'spec', 'template', 'spec', 'containers'))
          .map((c) => str(field(c, 'name')))
          .join(','),
    },
    {
      name: 'Images',
      type: 'string',
      priority: 1,
      cell: (o) =>
        arr(field(o, 'spec', 'template', 'spec', 'containers'))
          .map((c) => str(field(c, 'image')))
          .join(','),
    },
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      cell: (o) => selectorString(field(o, 'spec', 'selector', 'matchLabels')),
    },
  ],
  ReplicaSet: [
    nameCol,
    { name: 'Desired', type: 'integer', cell: (o) => Number(field(o, 'spec', 'replicas') ?? 0) },
    { name: 'Current', type: 'integer', cell: (o) => Number(field(o, 'status', 'replicas') ?? 0) },
    { name: 'Ready', type: 'integer', cell: (o) => Number(field(o, 'status', 'readyReplicas') ?? 0) },
    ageCol,
  ],
  Namespace: [
    nameCol,
    { name: 'Status', type: 'string', cell: (o) => str(field(o, 'status', 'phase')) ?? 'Active' },
    ageCol,
  ],
  ServiceCIDR: [
    nameCol,
    {
      name: 'CIDRs',
      type: 'string',
      cell: (o) =>
        arr(field(o, 'spec', 'cidrs'))
          .map(String)
          .join(','),
    },
    ageCol,
  ],
  Endpoints: [
    nameCol,
    {
      name: 'Endpoints',
      type: 'string',
      cell: (o) => {
        const eps: string[] = [];
        for (const s of arr(field(o, 'subsets'))) {
          for (const a of arr(field(s, 'addresses'))) {
            for (const p of arr(field(s, 'ports')))
              eps.push(`${String(field(a, 'ip'))}:${String(field(p, 'port'))}`);
          }
        }
        return eps.length ? eps.join(',') : '<none>';
      },
    },
    ageCol,
  ],
  ConfigMap: [
    nameCol,
    { name: 'Data', type: 'integer', cell: (o) => Object.keys(isRecord(o['data']) ? o['data'] : {}).length },
    ageCol,
  ],
  Secret: [
    nameCol,
    { name: 'Type', type: 'string', cell: (o) => str(o['type']) ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys(isRecord(o['data']) ? o['data'] : {}).length },
    ageCol,
  ],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(
  kind: string,
  items: KubeObject[],
  listMeta: Record<string, unknown>,
  include: IncludeObject,
  now = new Date(),
): Record<string, unknown> {
  const cols = columnsByKind[kind] ?? [nameCol, ageCol];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o, now)),
      object:
        include === 'Object'
          ? o
          : include === 'Metadata'
            ? { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }
            : undefined,
    })),
  };
}
