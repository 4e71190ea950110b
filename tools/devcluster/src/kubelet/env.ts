// A container's environment as the kubelet builds it: service links, KUBERNETES_SERVICE_*, env with
// downward-API fieldRefs, config map and secret references, envFrom, and $(VAR) expansion.
import { field, isRecord, str, type KubeObject } from '../api/object.js';
import type { Store } from '../api/store.js';

type Rec = Record<string, unknown>;

function serviceLinkEnv(svc: KubeObject): Record<string, string> {
  const ip = str(field(svc, 'spec', 'clusterIP'));
  if (!ip || ip === 'None') return {};
  const prefix = (svc.metadata.name ?? '').toUpperCase().replace(/-/g, '_');
  const ports = Array.isArray(field(svc, 'spec', 'ports')) ? (field(svc, 'spec', 'ports') as Rec[]) : [];
  const out: Record<string, string> = {};
  const first = ports[0];
  if (!first) return out;
  out[`${prefix}_SERVICE_HOST`] = ip;
  out[`${prefix}_SERVICE_PORT`] = String(first['port']);
  out[`${prefix}_PORT`] =
    `${String(first['protocol'] ?? 'TCP').toLowerCase()}://${ip}:${String(first['port'])}`;
  for (const p of ports) {
    const proto = String(p['protocol'] ?? 'TCP');
    const base = `${prefix}_PORT_${String(p['port'])}_${proto}`;
    if (p['name'])
      out[`${prefix}_SERVICE_PORT_${String(p['name']).toUpperCase().replace(/-/g, '_')}`] = String(p['port']);
    out[base] = `${proto.toLowerCase()}://${ip}:${String(p['port'])}`;
    out[`${base}_PROTO`] = proto.toLowerCase();
    out[`${base}_PORT`] = String(p['port']);
    out[`${base}_ADDR`] = ip;
  }
  return out;
}

function fieldRef(pod: KubeObject, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return str(field(pod, 'spec', 'nodeName')) ?? '';
    case 'spec.serviceAccountName':
      return str(field(pod, 'spec', 'serviceAccountName')) ?? '';
    case 'status.podIP':
      return str(field(pod, 'status', 'podIP')) ?? '';
    case 'status.podIPs':
      return str(field(pod, 'status', 'podIP')) ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return str(field(pod, 'status', 'hostIP')) ?? '';
    default:
      return '';
  }
}

export function expandVars(s: string, env: Readonly<Record<string, string>>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : whole;
  });
}

export function containerEnv(
  store: Store,
  pod: KubeObject,
  container: Rec,
  base: Readonly<Record<string, string>>,
): Record<string, string> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  if (field(pod, 'spec', 'enableServiceLinks') !== false) {
    for (const svc of store.list('services', ns)) Object.assign(env, serviceLinkEnv(svc));
  }
  const kube = store.get('services', 'default', 'kubernetes');
  if (kube) Object.assign(env, serviceLinkEnv(kube));
  const data = (kind: 'configmaps' | 'secrets', name: string): Record<string, string> => {
    const o = store.get(kind, ns, name);
    const d = o?.['data'];
    if (!isRecord(d)) return {};
    return Object.fromEntries(
      Object.entries(d).map(([k, v]) => [
        k,
        kind === 'secrets' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v),
      ]),
    );
  };
  for (const ef of Array.isArray(container['envFrom']) ? (container['envFrom'] as Rec[]) : []) {
    const prefix = str(ef['prefix']) ?? '';
    const cm = str(field(ef, 'configMapRef', 'name'));
    const sec = str(field(ef, 'secretRef', 'name'));
    const vals = cm ? data('configmaps', cm) : sec ? data('secrets', sec) : {};
    for (const [k, v] of Object.entries(vals)) env[prefix + k] = v;
  }
  for (const e of Array.isArray(container['env']) ? (container['env'] as Rec[]) : []) {
    const name = str(e['name']);
    if (!name) continue;
    const vf = e['valueFrom'];
    if (isRecord(vf)) {
      const fp = str(field(vf, 'fieldRef', 'fieldPath'));
      if (fp) env[name] = fieldRef(pod, fp);
      const cmk = field(vf, 'configMapKeyRef');
      if (isRecord(cmk)) env[name] = data('configmaps', String(cmk['name']))[String(cmk['key'])] ?? '';
      const sk = field(vf, 'secretKeyRef');
      if (isRecord(sk)) env[name] = data('secrets', String(sk['name']))[String(sk['key'])] ?? '';
      const rf = str(field(vf, 'resourceFieldRef', 'resource'));
      if (rf) env[name] = '0';
    } else env[name] = expandVars(str(e['value']) ?? '', env);
  }
  return env;
}
