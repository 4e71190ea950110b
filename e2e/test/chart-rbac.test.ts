// The chart's RBAC, enforced by devcluster (as root): each rule the manager's roles grant is removed in
// turn, and the feature that needs it fails with a clear line in the manager's log (so every rule is
// needed); with all of them the manager, the injector and the agents work (the other suites). Then the
// client as an ordinary developer user with exactly the chart's optional telepresence-client role:
// connect, list and intercept work; without pods/portforward, connect fails naming it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { jest } from '@jest/globals';
import {
  type CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1PolicyRule,
} from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';

import {
  apply,
  clientMain as cli,
  execAsync,
  describeRoot,
  echoFixtureYaml,
  installManager,
  isReady,
  managerNamespace as ns,
  poller,
  repo,
  startCluster,
  workstationRunner,
} from './helpers/tp-cluster.js';

const until = poller({ timeoutMs: 60_000, intervalMs: 250 });
const managerSa = `system:serviceaccount:${ns}:traffic-manager`;

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

type RoleKind = 'Role' | 'ClusterRole';
interface LogEntry {
  msg?: string;
  err?: unknown;
  problem?: unknown;
  [k: string]: unknown;
}

describeRoot('the chart RBAC on devcluster', () => {
  jest.setTimeout(600_000);
  let cluster: DevCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let rbac: RbacAuthorizationV1Api;
  let work: string;
  let runDir: string;
  let devKubeconfig: string;

  const ws = workstationRunner(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => ws(['node', cli, ...args], 180_000);

  const managerPods = async () =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/name=traffic-manager' }))
      .items;
  const readyManager = () =>
    until('a ready traffic-manager', async () => (await managerPods()).find(isReady)?.metadata?.name);

  /** Deletes the manager pod; the name of the replacement once it runs (ready or not). */
  async function restartManager(): Promise<string> {
    const old = (await managerPods()).map((p) => p.metadata!.name!);
    for (const name of old) await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    return until('a new traffic-manager pod', async () => {
      const p = (await managerPods()).find(
        (x) =>
          !old.includes(x.metadata!.name!) && x.status?.phase === 'Running' && !x.metadata?.deletionTimestamp,
      );
      return p?.metadata?.name;
    });
  }

  const logOf = async (pod: string): Promise<LogEntry[]> =>
    (await core.readNamespacedPodLog({ namespace: ns, name: pod }))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry);

  /** Waits for a log entry with this message whose text names the missing permission. */
  const expectLog = (pod: string, msg: string, forbidden: string) =>
    until(
      `manager log "${msg}" naming ${forbidden}`,
      async () => (await logOf(pod)).find((e) => e.msg === msg && JSON.stringify(e).includes(forbidden)),
      30_000,
    );

  /** Runs fn with rule `index` of a Role/ClusterRole removed, then puts the role back as it was. */
  async function withoutRule<T>(
    kind: RoleKind,
    name: string,
    index: number,
    fn: () => Promise<T>,
  ): Promise<T> {
    const read = () =>
      kind === 'Role' ? rbac.readNamespacedRole({ namespace: ns, name }) : rbac.readClusterRole({ name });
    const role = await read();
    const original: V1PolicyRule[] = role.rules ?? [];
    expect(original[index]).toBeDefined();
    const put = async (rules: V1PolicyRule[]) => {
      const current = await read();
      const body = { ...current, rules };
      if (kind === 'Role') await rbac.replaceNamespacedRole({ namespace: ns, name, body });
      else await rbac.replaceClusterRole({ name, body });
    };
    await put(original.filter((_, i) => i !== index));
    try {
      return await fn();
    } finally {
      await put(original);
    }
  }

  const forbiddenText = (verb: string, resource: string, group: string, where: string) =>
    `User \\"${managerSa}\\" cannot ${verb} resource \\"${resource}\\" in API group \\"${group}\\" ${where}`;
  const clusterScope = 'at the cluster scope';
  const inNs = (n: string) => `in the namespace \\"${n}\\"`;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'rbac-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('rba', { randomChars: 3 });
    ({ kc, core } = await installManager(cluster, {
      values: [
        'clientRbac.create=true',
        'clientRbac.subjects[0].kind=User',
        'clientRbac.subjects[0].name=dev',
        'clientRbac.subjects[0].apiGroup=rbac.authorization.k8s.io',
      ],
    }));
    rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await apply(cluster, `${echoFixtureYaml()}\n---\n${webYaml}`);
    devKubeconfig = (await cluster.userKubeconfig({ user: 'dev' })).kubeconfig;
    await readyManager();
    await until('web ready', async () =>
      (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items.some(isReady)
        ? true
        : undefined,
    );
  }, 180_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  describe('each rule the manager needs at start, removed in turn', () => {
    const cr = `traffic-manager-${ns}`;
    const injector = `traffic-manager-injector-${ns}`;

    it('nodes list/watch: pod subnets from node podCIDRs', async () => {
      await withoutRule('ClusterRole', cr, 0, async () => {
        const pod = await restartManager();
        await expectLog(
          pod,
          'cannot list nodes; falling back to pod IPs',
          forbiddenText('list', 'nodes', '', clusterScope),
        );
      });
    });

    it('pods list/watch: pod subnets covering the pod IPs (podCIDRStrategy coverPodIPs, and auto without node podCIDRs)', async () => {
      const strategy = (value: string) =>
        execAsync(
          path.join(repo, 'tools/bin/kubectl'),
          [
            '--kubeconfig',
            cluster.hostKubeconfig,
            '-n',
            ns,
            'set',
            'env',
            'deployment/traffic-manager',
            `POD_CIDR_STRATEGY=${value}`,
          ],
          30_000,
        );
      await withoutRule('ClusterRole', cr, 1, async () => {
        await strategy('coverPodIPs');
        try {
          const pod = await until('the coverPodIPs manager pod', async () => {
            const p = (await managerPods()).find(
              (x) =>
                x.status?.phase === 'Running' &&
                !x.metadata?.deletionTimestamp &&
                x.spec?.containers[0]?.env?.some(
                  (e) => e.name === 'POD_CIDR_STRATEGY' && e.value === 'coverPodIPs',
                ),
            );
            return p?.metadata?.name;
          });
          const entry = await expectLog(
            pod,
            'list/watch failed; retrying',
            forbiddenText('list', 'pods', '', clusterScope),
          );
          expect(entry['what']).toBe('pods');
        } finally {
          await strategy('auto');
        }
      });
      // The env change rolls the Deployment out twice: the next test must not pick a pod of a ReplicaSet
      // that the rollout is about to scale down (it then vanishes under the test: "pod ... not found").
      const rollout = await execAsync(
        path.join(repo, 'tools/bin/kubectl'),
        ['--kubeconfig', cluster.hostKubeconfig, '-n', ns, 'rollout', 'status', 'deployment/traffic-manager'],
        120_000,
      );
      expect(rollout.code).toBe(0);
      await readyManager();
    });

    it('namespaces get "default": the cluster id sessions carry', async () => {
      await withoutRule('ClusterRole', cr, 2, async () => {
        const pod = await restartManager();
        await expectLog(
          pod,
          'cannot read the cluster id (UID of namespace default); sessions carry none',
          `namespaces \\"default\\" is forbidden: ${forbiddenText('get', 'namespaces', '', inNs('default'))}`,
        );
      });
    });

    it('servicecidrs list: the service CIDR from the ServiceCIDR API, else by the dummy-service trick', async () => {
      await withoutRule('ClusterRole', cr, 3, async () => {
        const pod = await restartManager();
        await expectLog(
          pod,
          'may not list servicecidrs.networking.k8s.io (the chart grants it: see charts/telepresence/README.md); trying the dummy-service trick',
          forbiddenText('list', 'servicecidrs', 'networking.k8s.io', clusterScope),
        );
        await until('the service subnet by the dummy-service trick', async () =>
          (await logOf(pod)).find((e) => e.msg === 'service subnet 198.19.0.0/20 (found by dummy-service)'),
        );
      });
    });

    it('services create (own namespace): the service CIDR by the dummy-service trick (clusters without the ServiceCIDR API)', async () => {
      await withoutRule('ClusterRole', cr, 3, () =>
        withoutRule('Role', 'traffic-manager', 0, async () => {
          const pod = await restartManager();
          await expectLog(
            pod,
            "could not determine the service subnet (no ServiceCIDR API, dummy-service trick failed); set the chart value serviceCIDR (env SERVICE_CIDR) to the cluster's service CIDR",
            forbiddenText('create', 'services', '', inNs(ns)),
          );
        }),
      );
    });

    // services delete t2-tst-dummy (Role rule 1) is needed only when the dummy Service was created (its
    // clusterIP 1.1.1.1 lies inside the cluster's service range): not reachable on devcluster, whose range
    // is 198.19.0.0/20 and which, like a kube-apiserver, checks the IP before the name; see the chart README.

    it.each([
      ['get', 4],
      ['patch', 5],
    ])(
      'mutatingwebhookconfigurations %s (injector rule %i): the injector keeps its caBundle',
      async (verb, index) => {
        await withoutRule('ClusterRole', injector, Number(index), async () => {
          const pod = await restartManager();
          await expectLog(
            pod,
            'cannot update the caBundle; will retry',
            forbiddenText(
              String(verb),
              'mutatingwebhookconfigurations',
              'admissionregistration.k8s.io',
              clusterScope,
            ),
          );
        });
      },
    );

    // tokenreviews and subjectaccessreviews create (rules 4, 5): with the client, below.
  });

  describe('the client as developer "dev" with only the telepresence-client role', () => {
    const injector = `traffic-manager-injector-${ns}`;
    let pod: string;

    beforeAll(async () => {
      pod = await readyManager();
    });

    it('connects and lists', async () => {
      const c = await tp('connect', '--kubeconfig', devKubeconfig);
      expect({ code: c.code, err: c.err }).toEqual({ code: 0, err: '' });
      const list = JSON.parse((await tp('list', '-o', 'json')).out) as Array<{ name: string }>;
      expect(list.map((w) => w.name)).toEqual(expect.arrayContaining(['echo', 'web']));
      // The role grants no cluster-wide namespace list: the connected namespace is mapped, and status says why.
      const st = JSON.parse((await tp('status', '-o', 'json')).out) as {
        dns: { mappedNamespaces: string[]; mappedNamespacesReason: string };
      };
      expect(st.dns.mappedNamespaces).toEqual(['default']);
      expect(st.dns.mappedNamespacesReason).toMatch(
        /^you may not list namespaces \(namespaces is forbidden: User "dev" cannot list resource "namespaces" in API group "" at the cluster scope.*\): only the connected namespace is mapped$/,
      );
    });

    it('deployments list (injector role): the workloads list shows', async () => {
      await withoutRule('ClusterRole', injector, 1, async () => {
        const r = await tp('list');
        expect(r.code).not.toBe(0);
        expect(r.out + r.err).toContain('cannot list resource "deployments" in API group "apps"');
        await expectLog(
          pod,
          'rpc failed: the traffic-manager lacks a Kubernetes permission',
          forbiddenText('list', 'deployments', 'apps', inNs('default')),
        );
      });
    });

    it.each([
      ['get', 2],
      ['patch', 3],
    ])('deployments %s (injector rule %i): enabling the agent on intercept', async (verb, index) => {
      await withoutRule('ClusterRole', injector, Number(index), async () => {
        const r = await tp('intercept', 'web', '--port', '8080:http');
        expect(r.code).not.toBe(0);
        expect(r.out + r.err).toContain(`cannot ${String(verb)} resource "deployments" in API group "apps"`);
        await expectLog(
          pod,
          'rpc failed: the traffic-manager lacks a Kubernetes permission',
          forbiddenText(String(verb), 'deployments', 'apps', inNs('default')),
        );
      });
    });

    it('services list (injector role): the injector decides which ports the agent takes over', async () => {
      await withoutRule('ClusterRole', injector, 0, async () => {
        await core.createNamespacedPod({
          namespace: 'default',
          body: {
            metadata: {
              name: 'annotated',
              annotations: { 'telepresence.io/inject-traffic-agent': 'enabled' },
            },
            spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] },
          },
        });
        await expectLog(
          pod,
          'cannot decide on injection; leaving the pod unchanged',
          forbiddenText('list', 'services', '', inNs('default')),
        );
        await core.deleteNamespacedPod({ namespace: 'default', name: 'annotated', gracePeriodSeconds: 0 });
      });
    });

    it('intercepts with the whole chart', async () => {
      const ic = await tp('intercept', 'web', '--port', '8080:http', '-o', 'json');
      expect({ code: ic.code, err: ic.err }).toEqual({ code: 0, err: '' });
      await until(
        'web with an agent',
        async () => {
          const web = (
            JSON.parse((await tp('list', '-o', 'json')).out) as Array<{ name: string; agent: boolean }>
          ).find((w) => w.name === 'web');
          return web?.agent === true ? true : undefined;
        },
        120_000,
      );
      expect((await tp('leave', 'web')).code).toBe(0);
      expect((await tp('quit')).code).toBe(0);
    });

    it.each([
      ['tokenreviews', 'authentication.k8s.io', 4],
      ['subjectaccessreviews', 'authorization.k8s.io', 5],
    ])(
      '%s create (manager rule %s/%i): caller authentication; connect fails naming it',
      async (resource, group, index) => {
        // Reviews are reused for auth.reviewTTL (5 s): wait out the last connect's.
        await new Promise((r) => setTimeout(r, 5500));
        await withoutRule('ClusterRole', `traffic-manager-${ns}`, Number(index), async () => {
          const c = await tp('connect', '--kubeconfig', devKubeconfig);
          expect(c.code).not.toBe(0);
          expect(c.out + c.err).toContain(
            `the traffic-manager lacks a Kubernetes permission (see the RBAC rules in charts/telepresence/README.md)`,
          );
          expect(c.out + c.err).toContain(`cannot create resource "${String(resource)}"`);
          await expectLog(
            pod,
            'cannot review callers: the traffic-manager lacks a Kubernetes permission',
            forbiddenText('create', String(resource), String(group), clusterScope),
          );
        });
      },
    );

    it('without serviceaccounts/token on traffic-manager-client, a certificate user cannot connect (naming it)', async () => {
      await withoutRule('ClusterRole', `telepresence-client-${ns}`, 2, async () => {
        const c = await tp('connect', '--kubeconfig', devKubeconfig);
        expect(c.code).not.toBe(0);
        expect(c.out + c.err).toContain(
          `you may not create serviceaccounts/token "traffic-manager-client" in namespace "${ns}": needed to authenticate to the traffic-manager`,
        );
      });
    });

    it('without pods/portforward, connect fails naming the permission', async () => {
      await withoutRule('ClusterRole', `telepresence-client-${ns}`, 1, async () => {
        const c = await tp('connect', '--kubeconfig', devKubeconfig);
        expect(c.code).not.toBe(0);
        expect(c.out + c.err).toContain(`you may not get pods/portforward in namespace "${ns}"`);
      });
    });

    it('without list on pods, connect fails naming the permission', async () => {
      await withoutRule('ClusterRole', `telepresence-client-${ns}`, 0, async () => {
        const c = await tp('connect', '--kubeconfig', devKubeconfig);
        expect(c.code).not.toBe(0);
        expect(c.out + c.err).toContain(
          `pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "${ns}"`,
        );
      });
    });
  });
});
