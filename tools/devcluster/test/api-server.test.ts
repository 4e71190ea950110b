// The API server in-process on loopback (no root needed): REST shapes, watch semantics and patches as
// @kubernetes/client-node uses them.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startInProcessApi, type InProcessApi } from './helpers/in-process-api.js';

let api: InProcessApi;
let store: InProcessApi['store'];
let kc: k8s.KubeConfig;
let url: string;
let ca: string;
let token: string;

beforeAll(async () => {
  api = await startInProcessApi();
  store = api.store;
  url = api.url;
  ca = api.ca.cert;
  token = api.adminToken;
  kc = new k8s.KubeConfig();
  kc.loadFromString(api.kubeconfig({ token }));
}, 30000);

afterAll(() => api.close());

function raw(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  accept = 'application/json',
) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = https.request(
      `${url}${path}`,
      {
        method,
        ca,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: accept,
          ...(text ? { 'Content-Type': contentType } : {}),
        },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) : undefined }),
        );
      },
    );
    r.on('error', reject);
    r.end(text);
  });
}

describe('API server', () => {
  it('serves discovery and rejects requests without a valid token', async () => {
    const api = await raw('GET', '/api/v1');
    expect(api.body.resources.map((r: { name: string }) => r.name)).toEqual(
      expect.arrayContaining(['pods', 'services', 'pods/portforward', 'namespaces']),
    );
    const groups = await raw('GET', '/apis');
    expect(groups.body.groups.map((g: { name: string }) => g.name)).toEqual(
      expect.arrayContaining(['apps', 'admissionregistration.k8s.io']),
    );
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        https.get(`${url}/api/v1/pods`, { ca, headers }, (r) => resolve(r.statusCode ?? 0)).end();
      });
    expect(await status({})).toBe(403); // anonymous: authenticated as system:anonymous, not authorized
    expect(await status({ Authorization: 'Bearer not-a-token' })).toBe(401);
  });

  it('returns Status errors like the apiserver', async () => {
    const res = await raw('GET', '/api/v1/namespaces/default/pods/nope');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'NotFound',
      message: 'pods "nope" not found',
      code: 404,
    });
    const svc = await raw('POST', '/api/v1/namespaces/default/services', {
      metadata: { name: 't2-tst-dummy' },
      spec: { clusterIP: '1.1.1.1', ports: [{ port: 443 }] },
    });
    expect(svc.status).toBe(422);
    expect(svc.body.message).toContain('The range of valid IPs is 198.19.0.0/20');
  });

  it('lists and watches with client-node, restarting from a resourceVersion', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w1' } } });
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const rv = list.metadata?.resourceVersion ?? '';
    expect(list.items.map((i) => i.metadata?.name)).toContain('w1');

    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const ctl = await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: rv },
      (type, obj) => {
        seen.push(`${type} ${obj.metadata.name} ${obj.metadata.resourceVersion}`);
      },
      () => {},
    );
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w2' } } });
    await new Promise((r) => setTimeout(r, 150));
    ctl.abort();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^ADDED w2 /);
    const lastRv = (seen[0] ?? '').split(' ')[2] ?? '';

    // While nobody watches: a change and a deletion. Restarting from lastRv replays exactly those.
    await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'w2', body: { data: { a: 'b' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'w1' });
    const replay: string[] = [];
    const ctl2 = await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: lastRv },
      (type, obj) => {
        replay.push(`${type} ${obj.metadata.name}`);
      },
      () => {},
    );
    await new Promise((r) => setTimeout(r, 150));
    ctl2.abort();
    expect(replay).toEqual(['MODIFIED w2', 'DELETED w1']);
  });

  it('sends bookmarks when asked and 410 Gone for compacted versions', async () => {
    const events: { type: string; obj: any }[] = [];
    const watch = new k8s.Watch(kc);
    const ctl = await watch.watch(
      '/api/v1/namespaces/default/pods',
      { allowWatchBookmarks: true, resourceVersion: String(store.resourceVersion) },
      (type, obj) => events.push({ type, obj }),
      () => {},
    );
    await new Promise((r) => setTimeout(r, 250));
    ctl.abort();
    expect(events.some((e) => e.type === 'BOOKMARK' && e.obj.metadata.resourceVersion)).toBe(true);

    const old = store.resourceVersion;
    await raw('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'g1' } });
    store.compact();
    const errors: { type: string; obj: any }[] = [];
    let doneErr: unknown = 'not done';
    await new Promise<void>((resolve) => {
      void watch.watch(
        '/api/v1/namespaces/default/configmaps',
        { resourceVersion: String(old) },
        (type, obj) => errors.push({ type, obj }),
        (err) => {
          doneErr = err;
          resolve();
        },
      );
    });
    expect(errors[0]?.type).toBe('ERROR');
    expect(errors[0]?.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    void doneErr;
  });

  it('filters watches by label selector, sending DELETED when an object stops matching', async () => {
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const ctl = await watch.watch(
      '/api/v1/namespaces/other/configmaps',
      { labelSelector: 'app=x' },
      (type, obj) => seen.push(`${type} ${obj.metadata.name}`),
      () => {},
    );
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: 'other',
      body: { metadata: { name: 'l1', labels: { app: 'x' } } },
    });
    await core.createNamespacedConfigMap({
      namespace: 'other',
      body: { metadata: { name: 'l2', labels: { app: 'y' } } },
    });
    await core.patchNamespacedConfigMap(
      { namespace: 'other', name: 'l1', body: { metadata: { labels: { app: 'z' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await new Promise((r) => setTimeout(r, 150));
    ctl.abort();
    expect(seen).toEqual(['ADDED l1', 'DELETED l1']);
  });

  it('applies strategic merge patches and serves Tables', async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'a', image: 'echo', env: [{ name: 'X', value: '1' }] }] },
          },
        },
      },
    });
    const patched = await raw(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/web',
      {
        spec: { template: { spec: { containers: [{ name: 'a', env: [{ name: 'Y', value: '2' }] }] } } },
      },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status).toBe(200);
    expect(patched.body.spec.template.spec.containers[0].env).toEqual([
      { name: 'X', value: '1' },
      { name: 'Y', value: '2' },
    ]);
    expect(patched.body.metadata.generation).toBe(2);
    const table = await raw(
      'GET',
      '/apis/apps/v1/namespaces/default/deployments',
      undefined,
      'application/json',
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    );
    expect(table.body.kind).toBe('Table');
    expect(table.body.rows[0].cells[0]).toBe('web');
  });

  it('paginates lists with limit and continue', async () => {
    for (let i = 0; i < 5; i++)
      await raw('POST', '/api/v1/namespaces/other/secrets', {
        metadata: { name: `s${i}` },
        stringData: { k: 'v' },
      });
    const p1 = await raw('GET', '/api/v1/namespaces/other/secrets?limit=3');
    expect(p1.body.items).toHaveLength(3);
    expect(p1.body.items[0].data).toEqual({ k: Buffer.from('v').toString('base64') });
    const p2 = await raw(
      'GET',
      `/api/v1/namespaces/other/secrets?limit=3&continue=${encodeURIComponent(p1.body.metadata.continue)}`,
    );
    expect(p2.body.items.map((i: any) => i.metadata.name)).toEqual(['s3', 's4']);
    expect(p2.body.metadata.continue).toBeUndefined();
  });
});
