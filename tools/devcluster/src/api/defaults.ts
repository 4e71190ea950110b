// Defaulting the apiserver does on create (the fields kubectl and controllers expect to find set).
import { randomBytes } from 'node:crypto';
import { isRecord, type KubeObject } from './object.js';

type Rec = Record<string, unknown>;

function rec(o: Rec, k: string): Rec {
  const v = o[k];
  if (isRecord(v)) return v;
  const n: Rec = {};
  o[k] = n;
  return n;
}

function list(o: Rec, k: string): Rec[] {
  const v = o[k];
  return Array.isArray(v) ? (v.filter(isRecord) as Rec[]) : [];
}

export function defaultContainer(c: Rec): void {
  c['terminationMessagePath'] ??= '/dev/termination-log';
  c['terminationMessagePolicy'] ??= 'File';
  const image = typeof c['image'] === 'string' ? c['image'] : '';
  c['imagePullPolicy'] ??= image.endsWith(':latest') || !image.includes(':') ? 'Always' : 'IfNotPresent';
  c['resources'] ??= {};
  for (const p of list(c, 'ports')) p['protocol'] ??= 'TCP';
  for (const k of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = c[k];
    if (isRec(probe)) defaultProbe(probe);
  }
  for (const e of list(c, 'env')) {
    const ref = isRec(e['valueFrom']) ? e['valueFrom']['fieldRef'] : undefined;
    if (isRec(ref)) ref['apiVersion'] ??= 'v1';
  }
}

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What the apiserver fills in a probe (k8s.io/kubernetes pkg/apis/core/v1 defaults). */
function defaultProbe(probe: Rec): void {
  probe['timeoutSeconds'] ??= 1;
  probe['periodSeconds'] ??= 10;
  probe['successThreshold'] ??= 1;
  probe['failureThreshold'] ??= 3;
  const http = probe['httpGet'];
  if (isRec(http)) {
    http['scheme'] ??= 'HTTP';
    http['path'] ??= '/';
  }
}

export function defaultPodSpec(spec: Rec): void {
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['securityContext'] ??= {};
  spec['schedulerName'] ??= 'default-scheduler';
  spec['enableServiceLinks'] ??= true;
  spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
  spec['priority'] ??= 0;
  if (spec['serviceAccountName'] === undefined)
    spec['serviceAccountName'] = spec['serviceAccount'] ?? 'default';
  spec['serviceAccount'] = spec['serviceAccountName'];
  for (const c of [...list(spec, 'containers'), ...list(spec, 'initContainers')]) defaultContainer(c);
}

/** The projected service-account volume the ServiceAccount admission plugin adds to every pod. */
export function addServiceAccountVolume(spec: Rec): void {
  if (spec['automountServiceAccountToken'] === false) return;
  const volumes = list(spec, 'volumes');
  if (volumes.some((v) => String(v['name']).startsWith('kube-api-access-'))) return;
  const name = `kube-api-access-${randomBytes(3).toString('hex').slice(0, 5)}`;
  volumes.push({
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, path: 'namespace' }],
          },
        },
      ],
    },
  });
  spec['volumes'] = volumes;
  for (const c of [...list(spec, 'containers'), ...list(spec, 'initContainers')]) {
    const mounts = list(c, 'volumeMounts');
    if (mounts.some((m) => m['mountPath'] === '/var/run/secrets/kubernetes.io/serviceaccount')) continue;
    mounts.push({ name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' });
    c['volumeMounts'] = mounts;
  }
}

export function defaultPod(pod: KubeObject): void {
  const spec = rec(pod, 'spec');
  defaultPodSpec(spec);
  addServiceAccountVolume(spec);
  pod['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
}

export function defaultDeployment(d: KubeObject): void {
  const spec = rec(d, 'spec');
  spec['replicas'] ??= 1;
  spec['revisionHistoryLimit'] ??= 10;
  spec['progressDeadlineSeconds'] ??= 600;
  const strategy = rec(spec, 'strategy');
  strategy['type'] ??= 'RollingUpdate';
  if (strategy['type'] === 'RollingUpdate') {
    const ru = rec(strategy, 'rollingUpdate');
    ru['maxUnavailable'] ??= '25%';
    ru['maxSurge'] ??= '25%';
  }
  const template = rec(spec, 'template');
  rec(template, 'metadata');
  defaultPodSpec(rec(template, 'spec'));
  d['status'] ??= {};
}

export function defaultReplicaSet(rs: KubeObject): void {
  const spec = rec(rs, 'spec');
  spec['replicas'] ??= 1;
  defaultPodSpec(rec(rec(spec, 'template'), 'spec'));
  rs['status'] ??= { replicas: 0 };
}

export function defaultService(svc: KubeObject): void {
  const spec = rec(svc, 'spec');
  spec['type'] ??= 'ClusterIP';
  spec['sessionAffinity'] ??= 'None';
  spec['ipFamilies'] ??= ['IPv4'];
  spec['ipFamilyPolicy'] ??= 'SingleStack';
  spec['internalTrafficPolicy'] ??= 'Cluster';
  for (const p of list(spec, 'ports')) {
    p['protocol'] ??= 'TCP';
    p['targetPort'] ??= p['port'];
  }
  svc['status'] ??= { loadBalancer: {} };
}

export function defaultSecret(s: KubeObject): void {
  if (!s['type']) s['type'] = 'Opaque';
  const stringData = s['stringData'];
  if (isRecord(stringData)) {
    const data = rec(s, 'data');
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
    delete s['stringData'];
  }
}

export function defaultNamespace(n: KubeObject): void {
  n['spec'] = { finalizers: ['kubernetes'] };
  n['status'] = { phase: 'Active' };
  const labels = (n.metadata.labels ??= {});
  labels['kubernetes.io/metadata.name'] = n.metadata.name ?? '';
}

export function defaultWebhookConfiguration(w: KubeObject): void {
  for (const h of list(w, 'webhooks')) {
    h['failurePolicy'] ??= 'Fail';
    h['matchPolicy'] ??= 'Equivalent';
    h['sideEffects'] ??= 'None';
    h['timeoutSeconds'] ??= 10;
    h['reinvocationPolicy'] ??= 'Never';
    h['namespaceSelector'] ??= {};
    h['objectSelector'] ??= {};
    h['admissionReviewVersions'] ??= ['v1'];
  }
}
