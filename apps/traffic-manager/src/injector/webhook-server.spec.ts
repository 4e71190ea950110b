import https from 'node:https';

import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';

import type { InjectorApi } from './injector-api.js';
import { parseReview, startAgentInjector, type RunningInjector } from './webhook-server.js';

function fakeApi(services: V1Service[] = []): InjectorApi & { bundles: string[]; failList: boolean } {
  const api = {
    bundles: [] as string[],
    failList: false,
    listServices: () => (api.failList ? Promise.reject(new Error('API down')) : Promise.resolve(services)),
    listDeployments: () => Promise.resolve([] as V1Deployment[]),
    getDeployment: () => Promise.resolve(undefined),
    annotatePodTemplate: () => Promise.resolve(),
    setCaBundle: (_name: string, pem: string) => {
      api.bundles.push(pem);
      return Promise.resolve();
    },
  };
  return api;
}

function post(
  inj: RunningInjector,
  body: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: inj.port,
        method: 'POST',
        path: '/traffic-agent',
        ca: inj.caBundle(),
        servername: 'agent-injector.ambassador.svc',
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const injectorOptions = (api: InjectorApi) => ({
  api,
  settings: { image: 'traffic-agent', managerHost: 'tm', managerPort: 8081, logLevel: 'info' as const },
  log: pino({ level: 'silent' }),
  host: '127.0.0.1',
  port: 0,
  serviceName: 'agent-injector',
  namespace: 'ambassador',
  webhookConfigName: 'agent-injector-ambassador',
});

const pod: V1Pod = {
  metadata: {
    name: 'echo-1',
    namespace: 'default',
    labels: { app: 'echo' },
    annotations: { 'telepresence.io/inject-traffic-agent': 'enabled', 'telepresence.io/workload': 'echo' },
  },
  spec: { containers: [{ name: 'echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
};
const review = (object: unknown, operation = 'CREATE') =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', kind: { kind: 'Pod' }, operation, namespace: 'default', object },
  });

describe('agent-injector webhook', () => {
  let inj: RunningInjector;
  let api: ReturnType<typeof fakeApi>;
  let clock = Date.now();
  beforeAll(async () => {
    api = fakeApi([
      {
        metadata: { name: 'echo' },
        spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 'http' as never }] },
      },
    ]);
    inj = await startAgentInjector({ ...injectorOptions(api), certValidityMs: 3_600_000, now: () => clock });
  });
  afterAll(() => inj.close());

  it('keeps its CA in the webhook configuration', () => {
    expect(api.bundles).toEqual([inj.caBundle()]);
  });

  it('answers over TLS verified with the caBundle, with a JSON patch for enabled pods', async () => {
    const res = await post(inj, review(pod));
    expect(res.status).toBe(200);
    const response = res.json['response'] as {
      uid: string;
      allowed: boolean;
      patch: string;
      patchType: string;
    };
    expect(response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as Array<{ path: string }>;
    expect(ops.map((o) => o.path)).toContain('/spec/containers/-');
  });

  it('allows without a patch: other operations, a failing API, pods not enabled', async () => {
    for (const body of [
      review(pod, 'UPDATE'),
      review({ metadata: { name: 'x' }, spec: { containers: [] } }),
    ]) {
      const r = await post(inj, body);
      expect(r.json['response']).toEqual({ uid: 'u-1', allowed: true });
    }
    api.failList = true;
    expect((await post(inj, review(pod))).json['response']).toEqual({ uid: 'u-1', allowed: true });
    api.failList = false;
  });

  it('rejects a body that is not an AdmissionReview with 400', async () => {
    expect((await post(inj, '{nope')).status).toBe(400);
    expect(parseReview('{"request":{}}')).toBe('AdmissionReview request has no uid');
  });

  it('renews the serving certificate before it expires, still trusted by the same bundle', async () => {
    const before = inj.servingCert();
    clock += 50 * 60_000; // past two thirds of one hour
    await inj.rotateIfDue();
    const after = inj.servingCert();
    expect(after.certPem).not.toBe(before.certPem);
    expect(after.notAfter.getTime()).toBeGreaterThan(before.notAfter.getTime());
    expect((await post(inj, review(pod))).status).toBe(200);
    expect(api.bundles).toHaveLength(1);
  });
});

describe('agent-injector readiness (caBundle in the webhook configuration)', () => {
  const start = (api: InjectorApi) => startAgentInjector(injectorOptions(api));

  it('whenReady resolves as soon as the configuration appears and the sync succeeds, not at a poll tick', async () => {
    const api = fakeApi();
    let exists = false;
    let calls = 0;
    api.setCaBundle = (_name, pem) => {
      calls++;
      if (!exists) return Promise.reject(new Error('mutatingwebhookconfigurations "x" not found'));
      api.bundles.push(pem);
      return Promise.resolve();
    };
    const inj = await start(api);
    try {
      expect(calls).toBe(1);
      const ready = inj.whenReady(10_000);
      // The waiter tried at once; the configuration appears; the next retry (250 ms) succeeds.
      exists = true;
      const t0 = Date.now();
      expect(await ready).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(api.bundles).toEqual([inj.caBundle()]);
      expect(await inj.whenReady(0)).toBe(true);
    } finally {
      await inj.close();
    }
  });

  it('whenReady answers false after its timeout while the configuration is missing', async () => {
    const api = fakeApi();
    api.setCaBundle = () => Promise.reject(new Error('not found'));
    const inj = await start(api);
    try {
      const t0 = Date.now();
      expect(await inj.whenReady(300)).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      await inj.close();
    }
  });
});
