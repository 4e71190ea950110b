// Admission webhooks: AdmissionReview v1 over HTTPS to the configured service or URL, the caBundle as
// the only trusted CA, failurePolicy honoured. Mutating webhooks run one after another and their
// JSONPatch responses are applied; validating webhooks run afterwards, all at once, and any denial
// refuses the request.
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { ApiError } from './errors.js';
import { labelSelectorMatches } from './label-selector.js';
import { field, isRecord, str, type KubeObject } from './object.js';
import { jsonPatch } from './patch.js';
import type { ResourceType } from './resources.js';
import type { Store } from './store.js';

export interface AdmissionRequest {
  readonly type: ResourceType;
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE';
  readonly namespace: string | undefined;
  readonly object: KubeObject;
  readonly oldObject?: KubeObject;
  readonly user: { readonly username: string; readonly uid?: string; readonly groups?: readonly string[] };
}

type Rec = Record<string, unknown>;

function ruleMatches(rule: unknown, req: AdmissionRequest): boolean {
  if (!isRecord(rule)) return false;
  const has = (list: unknown, v: string) => Array.isArray(list) && (list.includes('*') || list.includes(v));
  return (
    has(rule['operations'], req.operation) &&
    has(rule['apiGroups'], req.type.group) &&
    has(rule['apiVersions'], req.type.version) &&
    has(rule['resources'], req.type.plural)
  );
}

export class WebhookCaller {
  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Runs every matching mutating webhook in name order; returns the (possibly patched) object. */
  async mutate(req: AdmissionRequest): Promise<KubeObject> {
    let obj = req.object;
    const configs = this.store.list('admissionregistration.k8s.io/mutatingwebhookconfigurations');
    configs.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    for (const cfg of configs) {
      const hooks = Array.isArray(cfg['webhooks']) ? (cfg['webhooks'] as unknown[]) : [];
      for (const hook of hooks) {
        if (!isRecord(hook) || !this.matches(hook, req, obj)) continue;
        obj = await this.callOne(hook, { ...req, object: obj });
      }
    }
    return obj;
  }

  /** Runs every matching validating webhook (in parallel, as the apiserver does); throws on a denial. */
  async validate(req: AdmissionRequest): Promise<void> {
    const hooks = this.store
      .list('admissionregistration.k8s.io/validatingwebhookconfigurations')
      .flatMap((cfg) => (Array.isArray(cfg['webhooks']) ? (cfg['webhooks'] as unknown[]) : []))
      .filter((hook): hook is Rec => isRecord(hook) && this.matches(hook, req, req.object));
    await Promise.all(hooks.map((hook) => this.callOne(hook, req)));
  }

  private matches(hook: Rec, req: AdmissionRequest, obj: KubeObject): boolean {
    const rules = Array.isArray(hook['rules']) ? (hook['rules'] as unknown[]) : [];
    if (!rules.some((r) => ruleMatches(r, req))) return false;
    if (!labelSelectorMatches(hook['objectSelector'], obj.metadata.labels ?? {})) return false;
    if (req.type.namespaced && req.namespace) {
      const ns = this.store.get('namespaces', undefined, req.namespace);
      if (!labelSelectorMatches(hook['namespaceSelector'], ns?.metadata.labels ?? {})) return false;
    }
    return true;
  }

  private async callOne(hook: Rec, req: AdmissionRequest): Promise<KubeObject> {
    const name = str(hook['name']) ?? '';
    const ignore = hook['failurePolicy'] === 'Ignore';
    const uid = randomUUID();
    const gvk = { group: req.type.group, version: req.type.version, kind: req.type.kind };
    const gvr = { group: req.type.group, version: req.type.version, resource: req.type.plural };
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: gvk,
        resource: gvr,
        requestKind: gvk,
        requestResource: gvr,
        name: req.object.metadata.name ?? '',
        namespace: req.namespace ?? '',
        operation: req.operation,
        userInfo: {
          username: req.user.username,
          ...(req.user.uid ? { uid: req.user.uid } : {}),
          groups: [...(req.user.groups ?? ['system:authenticated'])],
        },
        object: req.object,
        oldObject: req.oldObject ?? null,
        dryRun: false,
        options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      },
    };
    let response: Rec;
    try {
      response = await this.post(hook, review);
    } catch (err) {
      const msg = `failed calling webhook "${name}": ${(err as Error).message}`;
      this.log(`admission: ${msg}${ignore ? ' (failurePolicy Ignore)' : ''}`);
      if (ignore) return req.object;
      throw new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`);
    }
    const resp = response['response'];
    if (!isRecord(resp) || resp['uid'] !== uid) {
      const msg = `failed calling webhook "${name}": expected response.uid="${uid}"`;
      if (ignore) return req.object;
      throw new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`);
    }
    if (resp['allowed'] !== true) {
      const code = Number(field(resp, 'status', 'code') ?? 400);
      const message = str(field(resp, 'status', 'message')) ?? '';
      throw new ApiError(code, 'BadRequest', `admission webhook "${name}" denied the request: ${message}`);
    }
    const patch = str(resp['patch']);
    if (!patch) return req.object;
    try {
      const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as unknown;
      return jsonPatch(req.object, ops) as KubeObject;
    } catch (err) {
      throw new ApiError(
        500,
        'InternalError',
        `Internal error occurred: webhook "${name}" returned an invalid patch: ${(err as Error).message}`,
      );
    }
  }

  /** A ready endpoint (pod IP and target port) of the Service port `port`, if the Service has one. */
  private endpointOf(
    ns: string,
    name: string,
    svc: KubeObject,
    port: number,
  ): { ip: string; port: number } | undefined {
    const ports = field(svc, 'spec', 'ports');
    const sp = Array.isArray(ports) ? (ports as Rec[]).find((p) => Number(p['port']) === port) : undefined;
    if (!sp) return undefined;
    const subsets = field(this.store.get('endpoints', ns, name), 'subsets');
    for (const subset of Array.isArray(subsets) ? (subsets as Rec[]) : []) {
      const addresses = Array.isArray(subset['addresses']) ? (subset['addresses'] as Rec[]) : [];
      const eps = Array.isArray(subset['ports']) ? (subset['ports'] as Rec[]) : [];
      const ep = eps.find((p) => (sp['name'] ? p['name'] === sp['name'] : true));
      const ip = str(addresses[0]?.['ip']);
      if (ep && ip) return { ip, port: Number(ep['port']) };
    }
    return undefined;
  }

  private post(hook: Rec, review: unknown): Promise<Rec> {
    const cc = isRecord(hook['clientConfig']) ? hook['clientConfig'] : {};
    const caBundle = str(cc['caBundle']);
    const ca = caBundle ? Buffer.from(caBundle, 'base64').toString('utf8') : undefined;
    const timeoutMs = Number(hook['timeoutSeconds'] ?? 10) * 1000;
    let url: URL;
    let connectHost: string;
    let connectPort: number | undefined;
    let servername: string;
    const svc = cc['service'];
    if (isRecord(svc)) {
      const ns = str(svc['namespace']) ?? 'default';
      const name = str(svc['name']) ?? '';
      const port = Number(svc['port'] ?? 443);
      const obj = this.store.get('services', ns, name);
      const ip = str(field(obj, 'spec', 'clusterIP'));
      if (!obj || !ip || ip === 'None') return Promise.reject(new Error(`service "${ns}/${name}" not found`));
      servername = `${name}.${ns}.svc`;
      // The API server runs where ClusterIPs are not routed (no kube-proxy there), so like a kube-apiserver
      // routing to endpoints it connects to a ready endpoint of the Service; the ClusterIP is the fallback.
      const endpoint = this.endpointOf(ns, name, obj, port);
      connectHost = endpoint?.ip ?? ip;
      connectPort = endpoint?.port;
      url = new URL(`https://${servername}:${port}${str(svc['path']) ?? '/'}`);
    } else {
      url = new URL(str(cc['url']) ?? '');
      connectHost = url.hostname;
      servername = url.hostname;
    }
    const body = JSON.stringify(review);
    return new Promise((resolve, reject) => {
      const r = https.request(
        {
          host: connectHost,
          port: connectPort ?? (url.port || 443),
          path: url.pathname + url.search,
          method: 'POST',
          servername,
          ...(ca ? { ca } : {}),
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300)
              return reject(new Error(`Post "${url.href}": HTTP ${res.statusCode}: ${text}`));
            try {
              resolve(JSON.parse(text) as Rec);
            } catch {
              reject(new Error(`Post "${url.href}": invalid JSON response`));
            }
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`Post "${url.href}": context deadline exceeded`)));
      r.on('error', (e) => reject(new Error(`failed to call webhook: Post "${url.href}": ${e.message}`)));
      r.end(body);
    });
  }
}
