// The Kubernetes calls of the agent-injector and the agent enabler, behind an interface (tests use an
// in-memory fake). The real one speaks plain REST with the KubeConfig's credentials: merge patches are
// simplest that way, and every error keeps the API server's own message.
import https from 'node:https';

import type { KubeConfig, V1Deployment, V1Service } from '@kubernetes/client-node';

import { KubeApiError } from '../k8s/cluster-api.js';

export interface InjectorApi {
  listServices(namespace: string): Promise<V1Service[]>;
  listDeployments(namespace: string): Promise<V1Deployment[]>;
  /** Undefined when it does not exist. */
  getDeployment(namespace: string, name: string): Promise<V1Deployment | undefined>;
  /** Merge-patches the pod template's annotations (which rolls the workload when they change). */
  annotatePodTemplate(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void>;
  /** Sets clientConfig.caBundle of every webhook in the named MutatingWebhookConfiguration. */
  setCaBundle(configName: string, caBundlePem: string): Promise<void>;
}

export function restInjectorApi(kc: KubeConfig): InjectorApi {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig has no current cluster');
  const base = new URL(server);

  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const opts: https.RequestOptions = {
      method,
      hostname: base.hostname,
      port: base.port === '' ? 443 : Number(base.port),
      path: `${base.pathname.replace(/\/$/, '')}${path}`,
      headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    };
    await kc.applyToHTTPSOptions(opts);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text === '' ? {} : JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (code >= 200 && code < 300) resolve(parsed as T);
          else {
            const msg = (parsed as { message?: unknown } | undefined)?.message;
            reject(
              new KubeApiError(
                code,
                `${method} ${path}: ${typeof msg === 'string' ? msg : text} (HTTP ${code})`,
              ),
            );
          }
        });
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  return {
    async listServices(namespace) {
      return (await request<{ items: V1Service[] }>('GET', `/api/v1/namespaces/${namespace}/services`)).items;
    },
    async listDeployments(namespace) {
      return (
        await request<{ items: V1Deployment[] }>('GET', `/apis/apps/v1/namespaces/${namespace}/deployments`)
      ).items;
    },
    async getDeployment(namespace, name) {
      try {
        return await request<V1Deployment>(
          'GET',
          `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
        );
      } catch (e) {
        if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
        throw e;
      }
    },
    async annotatePodTemplate(namespace, name, annotations) {
      await request(
        'PATCH',
        `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
        { spec: { template: { metadata: { annotations } } } },
        'application/merge-patch+json',
      );
    },
    async setCaBundle(configName, caBundlePem) {
      const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`;
      const cfg = await request<{ webhooks?: Array<Record<string, unknown>> }>('GET', path);
      const caBundle = Buffer.from(caBundlePem).toString('base64');
      const ops = (cfg.webhooks ?? []).map((_, i) => ({
        op: 'add',
        path: `/webhooks/${i}/clientConfig/caBundle`,
        value: caBundle,
      }));
      if (ops.length === 0) throw new Error(`MutatingWebhookConfiguration ${configName} has no webhooks`);
      await request('PATCH', path, ops, 'application/json-patch+json');
    },
  };
}
