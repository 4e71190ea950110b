// Credential refresh for the packaged client (issue 20): a non-root user connects with the installed
// /usr/bin/telepresence and a kubeconfig whose exec plugin hands out short-lived tokens (its
// ExecCredential says they expire after 20 s). Each token is a TokenRequest bound to a Secret of its own;
// once a token's expiry has passed the test deletes its Secret, so the API server (and, through
// TokenReview, the traffic-manager) refuse it from then on, as a cloud's expired token. The connection
// must keep working past that: the root daemon ran the plugin again, as the user, before the expiry.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { DevCluster } from '@telepresence/devcluster';
import {
  addUsers,
  buildAndInstallPackage,
  execKubeconfig,
  installUserKubeconfig,
  must,
  removePackage,
  removeUsers,
  runAsUser,
  uidOf,
} from './helpers/packaged-user.js';
import {
  apply,
  describeRoot,
  echoFixtureYaml,
  execAsync,
  installManager,
  isReady,
  poller,
  repo,
  startCluster,
} from './helpers/tp-cluster.js';

const until = poller({ timeoutMs: 60_000 });
const suffix = Math.random().toString(36).slice(2, 6);
const user = `tpr${suffix}`;
const sudoersFile = `/etc/sudoers.d/telepresence-e2e-${suffix}`;
/** What the plugin's ExecCredential says a token lives. */
const TOKEN_SECONDS = 20;
/** The chart's auth.reviewTTL: how long the manager may still accept a token after it was invalidated. */
const REVIEW_TTL_MS = 1000;

/**
 * The exec plugin: records each run (number, uid, expiry) and hands out a token for the service account
 * tp-dev bound to a new Secret tp-cred-N (deleting the Secret invalidates the token at once).
 */
const plugin = (dir: string, kubectl: string): string => `#!/bin/sh
set -e
n=$(( $(cat ${dir}/count 2>/dev/null || echo 0) + 1 ))
echo $n > ${dir}/count
k() { ${kubectl} --kubeconfig ${dir}/admin.kubeconfig -n default "$@"; }
k create secret generic tp-cred-$n >/dev/null
token=$(k create token tp-dev --bound-object-kind Secret --bound-object-name tp-cred-$n --duration 10m)
exp=$(date -u -d "+${TOKEN_SECONDS} seconds" +%Y-%m-%dT%H:%M:%SZ)
echo "$n $(id -u) $(id -G | tr ' ' ,) $exp $token" >> ${dir}/runs
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$token" "$exp"
`;

interface Run {
  n: number;
  uid: string;
  groups: string;
  expiresAt: number;
  token: string;
}

describeRoot('an exec plugin credential that expires, refreshed by the daemon as the user', () => {
  jest.setTimeout(300_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let work: string;
  let runDir: string;
  const dir = `/home/${user}/cred`;
  const as = runAsUser(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => as(user, ['telepresence', ...args]);
  const runs = (): Run[] =>
    readFileSync(path.join(dir, 'runs'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [n, uid, groups, exp, token] = line.split(' ');
        return { n: Number(n), uid: uid!, groups: groups!, expiresAt: Date.parse(exp!), token: token! };
      });
  /** Whether the API server accepts `token` (from the host). */
  const accepted = async (token: string): Promise<boolean> => {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.hostKubeconfig);
    const cl = kc.getCurrentCluster()!;
    const probe = new KubeConfig();
    probe.loadFromOptions({
      clusters: [cl],
      users: [{ name: 'probe', token }],
      contexts: [{ name: 'probe', cluster: cl.name, user: 'probe' }],
      currentContext: 'probe',
    });
    return probe
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .then(
        () => true,
        (e: { code?: number }) => {
          if (e.code === 401) return false;
          throw e;
        },
      );
  };

  beforeAll(async () => {
    await buildAndInstallPackage();
    work = mkdtempSync(path.join(tmpdir(), 'refresh-e2e-'));
    chmodSync(work, 0o755); // the user reaches the run dir inside it
    runDir = path.join(work, 'run');
    await addUsers([user], sudoersFile, `${user} ALL=(root) NOPASSWD: /usr/bin/telepresence\n`);
    // A supplementary group, which the plugin must have when the daemon runs it too.
    await must(execAsync('usermod', ['-aG', 'users', user]), 'usermod');

    cluster = await startCluster('cr', { randomChars: 3 });
    ({ core } = await installManager(cluster, { values: [`auth.reviewTTL=${REVIEW_TTL_MS}ms`] }));
    await apply(
      cluster,
      `apiVersion: v1
kind: ServiceAccount
metadata: { name: tp-dev, namespace: default }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: tp-dev-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ kind: ServiceAccount, name: tp-dev, namespace: default }]
---
${echoFixtureYaml()}`,
    );
    // The plugin mints tokens with the admin kubeconfig (its own copy, the user's), and a kubectl the
    // user may run.
    await must(execAsync('install', ['-d', '-o', user, '-m', '0700', dir]), 'mkdir');
    await must(
      execAsync('install', ['-m', '0755', path.join(repo, 'tools/bin/kubectl'), `${work}/kubectl`]),
      'kubectl',
    );
    await must(
      execAsync('install', ['-o', user, '-m', '0600', cluster.kubeconfig, `${dir}/admin.kubeconfig`]),
      'kc',
    );
    writeFileSync(path.join(dir, 'plugin.sh'), plugin(dir, `${work}/kubectl`), { mode: 0o755 });
    const cl = (() => {
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfig);
      return kc.getCurrentCluster()!;
    })();
    await installUserKubeconfig(
      user,
      execKubeconfig({
        server: cl.server,
        caData: cl.caData!,
        user: 'dev',
        command: path.join(dir, 'plugin.sh'),
      }),
    );
    await until('manager and echo ready', async () => {
      const ready = async (ns: string, sel: string) =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: sel })).items.filter(isReady).length;
      return (await ready('ambassador', 'app.kubernetes.io/name=traffic-manager')) === 1 &&
        (await ready('default', 'app=echo')) === 2
        ? true
        : undefined;
    });
  }, 900_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    await cluster?.down();
    await removeUsers([user], sudoersFile);
    await removePackage();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 180_000);

  it('keeps the connection working after the first token is invalid: the plugin ran again, as the user', async () => {
    const uid = await uidOf(user);
    const groups = (await must(execAsync('id', ['-G', user]), 'id -G')).stdout.trim().replace(/ /g, ',');
    expect(groups.split(',')).toContain(
      (await must(execAsync('getent', ['group', 'users']), 'getent')).stdout.split(':')[2],
    );
    const c = await tp('connect');
    expect({ code: c.code, err: c.stderr }).toEqual({ code: 0, err: '' });
    const [first] = runs();
    expect(first).toMatchObject({ n: 1, uid, groups });

    // The first token's expiry passes; then it stops working (its Secret goes, as a cloud token expires).
    await until('the first token has expired', () =>
      Date.now() > first!.expiresAt + 1000 ? true : undefined,
    );
    await core.deleteNamespacedSecret({ name: 'tp-cred-1', namespace: 'default' });
    await until('the API server refuses the first token', async () =>
      (await accepted(first!.token)) ? undefined : true,
    );
    // The manager may reuse a review for auth.reviewTTL.
    await new Promise((r) => setTimeout(r, 2 * REVIEW_TTL_MS));

    // A new flow to a service by name (DNS and the tunnel through the manager) and a manager call.
    const byName = await as(user, ['curl', '-sS', '--max-time', '10', 'http://echo.default/']);
    expect(byName.stderr).toBe('');
    expect(byName.stdout).toMatch(/echo-/);
    const list = await tp('list', '-o', 'json');
    expect({ code: list.code, err: list.stderr }).toEqual({ code: 0, err: '' });
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((w) => w.name)).toContain('echo');

    // The plugin ran again, only ever as the user (uid and groups); the daemon says so.
    const all = runs();
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(new Set(all.map((r) => `${r.uid} ${r.groups}`))).toEqual(new Set([`${uid} ${groups}`]));
    const status = JSON.parse((await must(tp('status', '-o', 'json'), 'status')).stdout) as {
      credentials: { source: string; refreshes: number; problem: string; expiresAt: string };
    };
    expect(status.credentials).toMatchObject({ source: 'exec plugin', problem: '' });
    expect(status.credentials.refreshes).toBeGreaterThanOrEqual(1);
    expect(Date.parse(status.credentials.expiresAt)).toBeGreaterThan(first!.expiresAt);

    // A new port-forward: the traffic-manager restarts; the daemon finds the new pod and opens the
    // WebSocket to it with the refreshed credential (the first one would get 401 from both).
    const [oldPod] = (
      await core.listNamespacedPod({
        namespace: 'ambassador',
        labelSelector: 'app.kubernetes.io/name=traffic-manager',
      })
    ).items;
    await core.deleteNamespacedPod({ name: oldPod!.metadata!.name!, namespace: 'ambassador' });
    await until(
      'the old manager pod gone, a new one ready',
      async () => {
        const pods = (
          await core.listNamespacedPod({
            namespace: 'ambassador',
            labelSelector: 'app.kubernetes.io/name=traffic-manager',
          })
        ).items;
        return pods.every((p) => p.metadata?.name !== oldPod!.metadata!.name) && pods.some(isReady)
          ? true
          : undefined;
      },
      120_000,
    );
    await until(
      'list works through the new manager pod',
      async () => ((await tp('list', '-o', 'json')).code === 0 ? true : undefined),
      120_000,
    );
    const log = readFileSync(path.join(runDir, 'daemon.log'), 'utf8');
    expect(log).toMatch(/credential refreshed by the exec plugin/);

    const quit = await tp('quit');
    expect({ code: quit.code, out: quit.stdout.trim() }).toEqual({ code: 0, out: 'Disconnected' });
  });
});
