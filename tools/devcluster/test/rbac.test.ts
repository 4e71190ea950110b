// Authentication, RBAC and the review APIs of the in-process API server, through @kubernetes/client-node
// over HTTPS (no root needed): client certificates and bearer tokens, Forbidden Status messages,
// subresources and non-resource URLs, TokenRequest/TokenReview with pod binding, access reviews.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startInProcessApi, type InProcessApi } from './helpers/in-process-api.js';

let api: InProcessApi;
let admin: k8s.KubeConfig;
let dev: k8s.KubeConfig;

const config = (text: string) => {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(text);
  return kc;
};

/** The API server's Status body of a failed client-node call. */
async function failure(p: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as Record<string, string>;
      return { code: e.code, reason: body['reason'] ?? '', message: body['message'] ?? '' };
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}

type Credential = { token: string } | { cert: string; key: string } | undefined;

/** A GET with a credential (none: anonymous); status and body text. */
function get(
  cred: Credential,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const auth =
    cred === undefined
      ? {}
      : 'token' in cred
        ? { headers: { Authorization: `Bearer ${cred.token}`, ...headers } }
        : { ...cred, headers };
  return new Promise((resolve, reject) => {
    https
      .get(`${api.url}${path}`, { ca: api.ca.cert, headers, ...auth }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

let devCert: { cert: string; key: string };

beforeAll(async () => {
  api = await startInProcessApi();
  admin = config(api.kubeconfig({ token: api.adminToken }));
  devCert = await api.clientCert('dev', ['devs']);
  dev = config(api.kubeconfig(devCert, 'dev'));
}, 30000);

afterAll(() => api.close());

describe('authentication', () => {
  it('names the user of a client certificate (CN, O) and of a bearer token (SelfSubjectReview)', async () => {
    const who = await dev.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(who.status?.userInfo).toEqual({ username: 'dev', groups: ['devs', 'system:authenticated'] });
    const tokenUser = config(api.kubeconfig({ token: api.tokenFor('tina', ['qa']) }));
    const who2 = await tokenUser.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(who2.status?.userInfo).toEqual({ username: 'tina', groups: ['qa', 'system:authenticated'] });
  });

  it('rejects a certificate from another CA and an unknown token with 401; anonymous gets 403', async () => {
    const { createCa, issueClientCert } = await import('../src/api/certs.js');
    const otherCa = await createCa('other');
    const forged = await issueClientCert(otherCa, 'mallory', ['system:masters']);
    const status = await new Promise((resolve, reject) =>
      https
        .get(`${api.url}/api/v1/pods`, { ca: api.ca.cert, ...forged }, (res) => resolve(res.statusCode))
        .on('error', reject),
    );
    expect(status).toBe(401);
    expect((await get({ token: 'nope' }, '/api/v1/pods')).status).toBe(401);
    const anon = undefined;
    const r = await get(anon, '/api/v1/namespaces/default/pods');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toBe(
      'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    expect((await get(anon, '/version')).status).toBe(200); // system:public-info-viewer
  });
});

describe('RBAC', () => {
  it('forbids what no binding grants, with the apiserver Status, then allows it once bound', async () => {
    const core = dev.makeApiClient(k8s.CoreV1Api);
    expect(await failure(core.listNamespacedPod({ namespace: 'default' }))).toEqual({
      code: 403,
      reason: 'Forbidden',
      message:
        'pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "default"',
    });
    expect(await failure(core.listNode())).toMatchObject({
      message:
        'nodes is forbidden: User "dev" cannot list resource "nodes" in API group "" at the cluster scope',
    });
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'default',
      body: {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'default',
      body: {
        metadata: { name: 'dev-reads' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'dev' }],
      },
    });
    expect((await core.listNamespacedPod({ namespace: 'default' })).items).toEqual([]);
    // The Role is namespaced: the other namespace stays forbidden.
    expect((await failure(core.listNamespacedPod({ namespace: 'other' }))).code).toBe(403);
  });

  it('authorizes subresources separately (pods/log, pods/portforward, serviceaccounts/token)', async () => {
    await admin.makeApiClient(k8s.CoreV1Api).createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'p1' },
        spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] },
      },
    });
    const core = dev.makeApiClient(k8s.CoreV1Api);
    expect((await core.readNamespacedPod({ namespace: 'default', name: 'p1' })).metadata?.name).toBe('p1');
    expect(await failure(core.readNamespacedPodLog({ namespace: 'default', name: 'p1' }))).toMatchObject({
      code: 403,
      message:
        'pods "p1" is forbidden: User "dev" cannot get resource "pods/log" in API group "" in the namespace "default"',
    });
    const pf = await get(devCert, '/api/v1/namespaces/default/pods/p1/portforward?ports=80');
    expect(JSON.parse(pf.body).message).toBe(
      'pods "p1" is forbidden: User "dev" cannot get resource "pods/portforward" in API group "" in the namespace "default"',
    );
    expect(
      await failure(
        core.createNamespacedServiceAccountToken({
          namespace: 'default',
          name: 'default',
          body: { spec: { audiences: [] } },
        }),
      ),
    ).toMatchObject({
      message:
        'serviceaccounts "default" is forbidden: User "dev" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default"',
    });
  });

  it('authorizes non-resource URLs (discovery for everyone authenticated)', async () => {
    expect((await get(devCert, '/apis')).status).toBe(200);
    expect((await get(devCert, '/api/v1')).status).toBe(200);
    const r = await get(devCert, '/metrics');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toBe('forbidden: User "dev" cannot get path "/metrics"');
  });

  it('grants the aggregated default roles (view, edit) through a ClusterRole binding', async () => {
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: 'other',
      body: {
        metadata: { name: 'devs-edit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'devs' }],
      },
    });
    const apps = dev.makeApiClient(k8s.AppsV1Api);
    expect((await apps.listNamespacedDeployment({ namespace: 'other' })).items).toEqual([]);
    const ssar = dev.makeApiClient(k8s.AuthorizationV1Api);
    const can = async (verb: string, resource: string, namespace: string, subresource?: string) =>
      (
        await ssar.createSelfSubjectAccessReview({
          body: {
            spec: {
              resourceAttributes: { verb, resource, namespace, ...(subresource ? { subresource } : {}) },
            },
          },
        })
      ).status?.allowed;
    expect(await can('create', 'pods', 'other', 'portforward')).toBe(true);
    expect(await can('create', 'roles', 'other')).toBe(false); // admin, not edit
    expect(await can('create', 'pods', 'default')).toBe(false);
  });

  it('refuses impersonation without the impersonate verb', async () => {
    const r = await get(devCert, '/api/v1/pods', { 'Impersonate-User': 'kubernetes-admin' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toBe(
      'users "kubernetes-admin" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
  });
});

describe('escalation prevention', () => {
  it('a namespace admin may grant what it holds, not more (no escalate/bind)', async () => {
    await admin.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace: 'other',
      body: {
        metadata: { name: 'lead-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'lead' }],
      },
    });
    const lead = config(api.kubeconfig(await api.clientCert('lead'), 'lead')).makeApiClient(
      k8s.RbacAuthorizationV1Api,
    );
    const role = (name: string, rules: k8s.V1PolicyRule[]) =>
      lead.createNamespacedRole({ namespace: 'other', body: { metadata: { name }, rules } });
    await role('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]);
    expect(
      await failure(role('node-reader', [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }])),
    ).toEqual({
      code: 403,
      reason: 'Forbidden',
      message:
        'roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "lead" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}',
    });
    const bind = (name: string, clusterRole: string) =>
      lead.createNamespacedRoleBinding({
        namespace: 'other',
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'intern' }],
        },
      });
    await bind('intern-view', 'view');
    const denied = await failure(bind('intern-root', 'cluster-admin'));
    expect(denied.code).toBe(403);
    expect(denied.message).toContain(
      'rolebindings.rbac.authorization.k8s.io "intern-root" is forbidden: user "lead" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
    );
  });
});

describe('review APIs', () => {
  it('SubjectAccessReview and SelfSubjectRulesReview', async () => {
    const authz = admin.makeApiClient(k8s.AuthorizationV1Api);
    const sar = await authz.createSubjectAccessReview({
      body: {
        spec: { user: 'dev', resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'default' } },
      },
    });
    expect(sar.status).toMatchObject({ allowed: true });
    expect(sar.status?.reason).toContain('RoleBinding "dev-reads" in default of Role "pod-reader"');
    const denied = await authz.createSubjectAccessReview({
      body: {
        spec: { user: 'dev', resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'default' } },
      },
    });
    expect(denied.status?.allowed).toBe(false);
    const rules = await dev
      .makeApiClient(k8s.AuthorizationV1Api)
      .createSelfSubjectRulesReview({ body: { spec: { namespace: 'default' } } });
    expect(rules.status?.resourceRules).toEqual(
      expect.arrayContaining([{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }]),
    );
    expect(rules.status?.nonResourceRules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ nonResourceURLs: expect.arrayContaining(['/api']) }),
      ]),
    );
    // A SubjectAccessReview needs its own permission.
    expect(
      await failure(
        dev.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({
          body: { spec: { user: 'x', resourceAttributes: { verb: 'get', resource: 'pods' } } },
        }),
      ),
    ).toMatchObject({ code: 403 });
  });

  it('TokenRequest bound to a pod; TokenReview checks audiences and the binding, and rejects it once the pod is gone', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'app' } } });
    const pod = await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'bound' },
        spec: {
          serviceAccountName: 'app',
          containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
        },
      },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      namespace: 'default',
      name: 'app',
      body: {
        spec: {
          audiences: ['telepresence'],
          expirationSeconds: 900,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'bound' },
        },
      },
    });
    expect(tr.spec?.boundObjectRef).toMatchObject({ kind: 'Pod', name: 'bound', uid: pod.metadata?.uid });
    const expires = new Date(tr.status?.expirationTimestamp ?? 0).getTime() - Date.now();
    expect(expires).toBeGreaterThan(890_000);
    expect(expires).toBeLessThan(901_000);
    const token = tr.status?.token ?? '';
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      any
    >;
    expect(claims['kubernetes.io'].pod).toEqual({ name: 'bound', uid: pod.metadata?.uid });
    const authn = admin.makeApiClient(k8s.AuthenticationV1Api);
    const review = (audiences: string[]) =>
      authn.createTokenReview({ body: { spec: { token, audiences } } }).then((r) => r.status);
    const ok = await review(['telepresence']);
    expect(ok).toMatchObject({
      authenticated: true,
      audiences: ['telepresence'],
      user: {
        username: 'system:serviceaccount:default:app',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
      },
    });
    expect(ok?.user?.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['bound']);
    expect(ok?.user?.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([pod.metadata?.uid]);
    const wrongAud = await review(['other']);
    expect(wrongAud?.authenticated).toBeFalsy();
    expect(wrongAud?.error).toContain(
      'token audiences ["telepresence"] is invalid for the target audiences ["other"]',
    );
    // Not for the API server itself (its audience is the issuer).
    expect((await get({ token }, '/api')).status).toBe(401);
    await core.deleteNamespacedPod({ namespace: 'default', name: 'bound' });
    const gone = await review(['telepresence']);
    expect(gone?.authenticated).toBeFalsy();
    expect(gone?.error).toBe(
      '[invalid bearer token, pod "bound" not found: service account token has been invalidated]',
    );
  });

  it('TokenReview of a static token: valid for the API server audience only', async () => {
    const token = api.tokenFor('tina', ['qa']);
    const authn = admin.makeApiClient(k8s.AuthenticationV1Api);
    const ok = await authn.createTokenReview({ body: { spec: { token } } });
    expect(ok.status).toMatchObject({ authenticated: true, user: { username: 'tina' } });
    const other = await authn.createTokenReview({ body: { spec: { token, audiences: ['telepresence'] } } });
    expect(other.status?.authenticated).toBeFalsy();
    expect(other.status?.error).toContain('is invalid for the target audiences ["telepresence"]');
  });

  it('rejects expired tokens and bad TokenRequests with clear errors', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const sa = await core.readNamespacedServiceAccount({ namespace: 'default', name: 'app' });
    const { token } = api.signer.mintProjected({
      namespace: 'default',
      serviceAccount: { name: 'app', uid: sa.metadata?.uid ?? '' },
      expirationSeconds: -5,
    });
    const r = await admin
      .makeApiClient(k8s.AuthenticationV1Api)
      .createTokenReview({ body: { spec: { token } } });
    expect(r.status?.error).toBe('[invalid bearer token, service account token has expired]');
    expect(
      await failure(
        core.createNamespacedServiceAccountToken({
          namespace: 'default',
          name: 'app',
          body: { spec: { audiences: [], expirationSeconds: 60 } },
        }),
      ),
    ).toMatchObject({
      code: 422,
      message: expect.stringContaining('may not specify a duration less than 10 minutes'),
    });
    expect(
      await failure(
        core.createNamespacedServiceAccountToken({
          namespace: 'default',
          name: 'app',
          body: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', name: 'p1' } } },
        }),
      ),
    ).toMatchObject({
      code: 400,
      message:
        'cannot bind token for serviceaccount "app" to pod running with different serviceaccount name.',
    });
  });

  it('a default projected token authenticates to the API as the service account', async () => {
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
      namespace: 'default',
      name: 'app',
      body: { spec: { audiences: [] } },
    });
    const sa = config(api.kubeconfig({ token: tr.status?.token ?? '' }));
    const who = await sa.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(who.status?.userInfo?.username).toBe('system:serviceaccount:default:app');
    expect(
      await failure(sa.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'default' })),
    ).toMatchObject({
      message:
        'pods is forbidden: User "system:serviceaccount:default:app" cannot list resource "pods" in API group "" in the namespace "default"',
    });
    // Deleting the service account invalidates its tokens.
    await core.deleteNamespacedServiceAccount({ namespace: 'default', name: 'app' });
    expect((await get({ token: tr.status?.token ?? '' }, '/api')).status).toBe(401);
  });
});
