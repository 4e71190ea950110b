// The authenticated traffic-manager on devcluster (RBAC enforced, as root): a pod with no rights cannot
// use the manager; a second user cannot use the first user's session; a least-privilege developer
// connects, lists and intercepts (and loses its session when its binding goes); an agent whose pod was
// deleted is rejected; permissive mode lets the refused calls through and records them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { jest } from '@jest/globals';
import { KubeConfig, RbacAuthorizationV1Api, type CoreV1Api } from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';
import { ManagerClient, type common } from '@telepresence/rpc';

import {
  apply,
  bearerOptions,
  clientMain as cli,
  describeRoot,
  echoFixtureYaml,
  execAsync,
  installManager,
  isReady,
  managerNamespace as ns,
  poller,
  portForward,
  repo,
  workstationRunner,
  startCluster,
  type PortForwarded,
} from './helpers/tp-cluster.js';

const until = poller({ timeoutMs: 60_000, intervalMs: 250 });
const probe = path.join(repo, 'e2e/test/fixtures/manager-probe.mjs');
const clientInfo = { name: 'e2e', namespace: 'default', installId: 'e2e', version: 'e2e' };

const webYaml = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: default, labels: { app: web } }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
`;

/** The least privilege of a developer with a token: the chart's client role here, update on web there. */
const grantsYaml = (user: string) => `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: ${user}-telepresence, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: telepresence-client-${ns} }
subjects: [{ kind: User, name: ${user}, apiGroup: rbac.authorization.k8s.io }]
`;
const interceptWebYaml = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: intercept-web, namespace: default }
rules: [{ apiGroups: [apps], resources: [deployments], resourceNames: [web], verbs: [update] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-intercept-web, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: intercept-web }
subjects: [{ kind: User, name: alice, apiGroup: rbac.authorization.k8s.io }]
`;

interface CallResult {
  ok?: boolean;
  code?: number;
  details?: string;
}
interface ProbeResult {
  arriveAsClient: CallResult;
  arriveAsAgent: CallResult;
  watchClusterInfo: CallResult;
  tunnel: { ok: boolean; reason?: string; message?: string };
}

describeRoot('the authenticated traffic-manager on devcluster', () => {
  jest.setTimeout(600_000);
  let cluster: DevCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let rbac: RbacAuthorizationV1Api;
  let work: string;
  let runDir: string;
  let alice: { kubeconfig: string; token: string };
  let bob: { kubeconfig: string; token: string };
  let api: PortForwarded;
  const clients: ManagerClient[] = [];

  const ws = workstationRunner(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => ws(['node', cli, ...args], 180_000);

  const managerPod = () =>
    until('a ready traffic-manager', async () =>
      (
        await core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'app.kubernetes.io/name=traffic-manager',
        })
      ).items.find((p) => isReady(p) && !p.metadata?.deletionTimestamp),
    );
  const managerLog = async (): Promise<string> =>
    core.readNamespacedPodLog({ namespace: ns, name: (await managerPod()).metadata!.name! });

  async function forwardToManager(): Promise<void> {
    await api?.close();
    api = await portForward(kc, ns, (await managerPod()).metadata!.name!, 8081);
  }
  const as = (token: string): ManagerClient => {
    const c = new ManagerClient(`127.0.0.1:${api.port}`, credentials.createInsecure(), bearerOptions(token));
    clients.push(c);
    return c;
  };
  const call = <Req, Res>(
    c: ManagerClient,
    method: (req: Req, md: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => unknown,
    req: Req,
  ): Promise<Res> =>
    new Promise((resolve, reject) =>
      method.call(c, req, new Metadata(), { deadline: Date.now() + 15_000 }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
  const refusal = (p: Promise<unknown>): Promise<ServiceError | undefined> =>
    p.then(
      () => undefined,
      (e: ServiceError) => e,
    );

  async function userOf(name: string): Promise<{ kubeconfig: string; token: string }> {
    const files = await cluster.userKubeconfig({ user: name, token: true });
    const k = new KubeConfig();
    k.loadFromFile(files.hostKubeconfig);
    return { kubeconfig: files.kubeconfig, token: k.getCurrentUser()!.token! };
  }

  /** Runs the probe in an echo pod (default service account, no rights). */
  async function runProbe(token: 'none' | 'pod', session: string): Promise<ProbeResult> {
    const pod = (
      await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=echo' })
    ).items.find(isReady)!;
    const mgr = await managerPod();
    const r = await cluster.exec(
      `pod/default/${pod.metadata!.name!}`,
      ['node', probe, `${mgr.status!.podIP!}:8081`, token, session, 'default', pod.metadata!.name!],
      { timeoutMs: 60_000 },
    );
    if (r.code !== 0) throw new Error(`probe failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'auth-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('i19', { randomChars: 3 });
    ({ kc, core } = await installManager(cluster, { values: ['clientRbac.create=true'] }));
    rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await apply(cluster, `${echoFixtureYaml()}\n---\n${webYaml}`);
    alice = await userOf('alice');
    bob = await userOf('bob');
    await apply(cluster, `${grantsYaml('alice')}\n---\n${grantsYaml('bob')}\n---\n${interceptWebYaml}`);
    await until('echo and web ready', async () =>
      (await core.listNamespacedPod({ namespace: 'default' })).items.filter(isReady).length >= 3
        ? true
        : undefined,
    );
    await forwardToManager();
  }, 240_000);

  afterAll(async () => {
    clients.splice(0).forEach((c) => c.close());
    await api?.close();
    if (cluster) await tp('quit').catch(() => undefined);
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('a pod with no rights can create no session, open no tunnel, register no agent, read no cluster info', async () => {
    const session = (await call(as(alice.token), as(alice.token).arriveAsClient, { client: clientInfo }))
      .session!;
    const none = await runProbe('none', session.sessionId);
    expect(none.arriveAsClient.code).toBe(status.UNAUTHENTICATED);
    expect(none.arriveAsClient.details).toContain('no bearer token');
    expect(none.arriveAsAgent.code).toBe(status.UNAUTHENTICATED);
    expect(none.watchClusterInfo.code).toBe(status.UNAUTHENTICATED);
    expect(none.tunnel).toMatchObject({ ok: false, reason: 'permission-denied' });

    const withPodToken = await runProbe('pod', session.sessionId);
    expect(withPodToken.arriveAsClient.code).toBe(status.PERMISSION_DENIED);
    expect(withPodToken.arriveAsClient.details).toContain(
      `(system:serviceaccount:default:default) may not create pods/portforward in namespace "${ns}" (needed to connect to the traffic-manager)`,
    );
    expect(withPodToken.arriveAsAgent.code).toBe(status.PERMISSION_DENIED);
    expect(withPodToken.arriveAsAgent.details).toContain('audience "telepresence-agent"');
    expect(withPodToken.watchClusterInfo.code).toBe(status.PERMISSION_DENIED);
    expect(withPodToken.tunnel).toMatchObject({ ok: false, reason: 'permission-denied' });
  });

  it("a second user can neither use the first user's session nor leave its intercepts", async () => {
    const a = as(alice.token);
    const b = as(bob.token);
    const session: common.SessionInfo = (await call(a, a.arriveAsClient, { client: clientInfo })).session!;
    for (const attempt of [
      () => call(b, b.remain, { session }),
      () => call(b, b.removeIntercept, { session, name: 'web' }),
      () => call(b, b.depart, { session }),
    ]) {
      const e = await refusal(attempt());
      expect(e?.code).toBe(status.PERMISSION_DENIED);
      expect(e?.details).toContain('belongs to another identity than user "bob"');
    }
    await call(a, a.remain, { session });
  });

  describe('a developer with the documented least privilege (a token kubeconfig)', () => {
    it('connects, lists and intercepts', async () => {
      const c = await tp('connect', '--kubeconfig', alice.kubeconfig);
      expect({ code: c.code, err: c.err }).toEqual({ code: 0, err: '' });
      const list = JSON.parse((await tp('list', '-o', 'json')).out) as Array<{ name: string }>;
      expect(list.map((w) => w.name)).toEqual(expect.arrayContaining(['echo', 'web']));
      const ic = await tp('intercept', 'web', '--port', '8080:http');
      expect({ code: ic.code, err: ic.err }).toEqual({ code: 0, err: '' });
      const denied = await tp('intercept', 'echo', '--port', '8080:http');
      expect(denied.code).not.toBe(0);
      expect(denied.out + denied.err).toContain(
        'user "alice" may not update deployments.apps "echo" in namespace "default"',
      );
    });

    it('an agent whose pod was deleted cannot go on (its token is rejected)', async () => {
      const web = await until('web with its agent', async () =>
        (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items.find(
          (p) => isReady(p) && p.spec?.containers.some((c) => c.name === 'traffic-agent'),
        ),
      );
      const name = web.metadata!.name!;
      const read = await cluster.exec(`pod/default/${name}`, [
        'cat',
        '/var/run/secrets/telepresence.io/agent/token',
      ]);
      expect(read.code).toBe(0);
      const agent = as(read.stdout.trim());
      const agentInfo = {
        agent: {
          name: 'web',
          namespace: 'default',
          podName: name,
          podIp: Buffer.from([198, 18, 0, 9]),
          version: 'e2e',
        },
      };
      const session = (await call(agent, agent.arriveAsAgent, agentInfo)).session!;
      await core.deleteNamespacedPod({ namespace: 'default', name, gracePeriodSeconds: 0 });
      const e = await until('the deleted pod token refused', async () => {
        const err = await refusal(call(agent, agent.remain, { session }));
        return err?.code === status.UNAUTHENTICATED ? err : undefined;
      });
      expect(e.details).toContain("did not accept the caller's token");
      const again = await refusal(call(agent, agent.arriveAsAgent, agentInfo));
      expect(again?.code).toBe(status.UNAUTHENTICATED);
    });

    it('removing the binding stops new sessions at once and ends the existing one within a keep-alive', async () => {
      expect((await tp('leave', 'web')).code).toBe(0);
      const status0 = JSON.parse((await tp('status', '-o', 'json')).out) as { sessionId?: string };
      expect(status0.sessionId).toBeTruthy();
      await rbac.deleteNamespacedRoleBinding({ namespace: ns, name: 'alice-telepresence' });
      try {
        const a = as(alice.token);
        const refused = await until(
          'a new session refused',
          async () => {
            const e = await refusal(call(a, a.arriveAsClient, { client: clientInfo }));
            return e?.code === status.PERMISSION_DENIED ? e : undefined;
          },
          10_000,
        );
        expect(refused.details).toContain(
          `user "alice" may not create pods/portforward in namespace "${ns}"`,
        );
        await until(
          "alice's session ended by the manager",
          async () =>
            (await managerLog())
              .split('\n')
              .some(
                (l) =>
                  l.includes('ending the session: its owner lost the permission') &&
                  l.includes(status0.sessionId!),
              ) || undefined,
          15_000,
        );
      } finally {
        await apply(cluster, grantsYaml('alice'));
        await tp('quit');
      }
    });
  });

  it('permissive mode lets the refused calls through and records them in the log and metrics', async () => {
    await execAsync(
      path.join(repo, 'tools/bin/kubectl'),
      [
        '--kubeconfig',
        cluster.hostKubeconfig,
        '-n',
        ns,
        'set',
        'env',
        'deployment/traffic-manager',
        'AUTH_MODE=permissive',
      ],
      30_000,
    );
    await until('the permissive manager', async () =>
      (await managerPod()).spec?.containers[0]?.env?.some(
        (e) => e.name === 'AUTH_MODE' && e.value === 'permissive',
      )
        ? true
        : undefined,
    );
    const r = await runProbe('none', '-');
    expect(r.arriveAsClient.ok).toBe(true);
    expect(r.watchClusterInfo.ok).toBe(true);
    expect(r.tunnel.ok).toBe(true);
    const pod = await managerPod();
    const metricsPf = await portForward(kc, ns, pod.metadata!.name!, 9464);
    try {
      const text = await (await fetch(`http://127.0.0.1:${metricsPf.port}/metrics`)).text();
      expect(text).toMatch(/traffic_manager_sessions_refused_total\{kind="client",enforced="false"\} [1-9]/);
      expect(text).toMatch(
        /traffic_manager_auth_refusals_total\{rpc="watchClusterInfo",code="UNAUTHENTICATED",enforced="false"\} [1-9]/,
      );
      expect(text).toMatch(
        /traffic_manager_auth_refusals_total\{rpc="tunnel",code="UNAUTHENTICATED",enforced="false"\} [1-9]/,
      );
    } finally {
      await metricsPf.close();
    }
    expect(await managerLog()).toContain('call would be refused (permissive: allowed)');
  });
});
