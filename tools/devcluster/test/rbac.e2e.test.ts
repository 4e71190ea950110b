// Authentication and RBAC on a real devcluster (needs root) with real kubectl: the project's (1.33) and,
// when present, other builds (/usr/bin/kubectl; $EXTRA_KUBECTLS, colon-separated, e.g. Debian's 1.20):
// auth whoami/can-i, create role/rolebinding/clusterrole/clusterrolebinding, auth reconcile, create token,
// Forbidden messages, `devcluster kubeconfig --user`, the kubelet's projected token (bound to its pod,
// rejected once the pod is deleted), legacy token Secrets.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevCluster, type DevCluster } from '../src/cluster.js';
import { needs } from 'test-requirements';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const repoDir = path.resolve(pkgDir, '../..');
const projectKubectl = path.join(repoDir, 'tools/bin/kubectl');
const otherKubectls = [
  ...(existsSync('/usr/bin/kubectl') ? ['/usr/bin/kubectl'] : []),
  ...(process.env['EXTRA_KUBECTLS'] ?? '').split(':').filter((k) => k !== '' && existsSync(k)),
];
const describeRoot = needs('root').describe;
const name = `r${process.pid % 100000}`;

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

function run(bin: string, args: string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
    );
    child.stdin?.end(input);
  });
}

let cluster: DevCluster;
let dev: string; // the developer's kubeconfig (host)
const kubectl = (args: string[], input?: string, kc = cluster.hostKubeconfig, bin = projectKubectl) =>
  run(bin, ['--kubeconfig', kc, ...args], input);
const devcluster = (args: string[]) => run(process.execPath, [path.join(pkgDir, 'dist/cli.js'), ...args]);
/** kubectl with only a bearer token (no kubeconfig credentials). */
const withToken = (token: string, args: string[]) =>
  run(
    projectKubectl,
    [
      '--server',
      cluster.hostApiUrl,
      '--certificate-authority',
      path.join(path.dirname(cluster.hostKubeconfig), 'ca.crt'),
      '--token',
      token,
      ...args,
    ],
    '',
    { ...process.env, KUBECONFIG: '/dev/null' },
  );

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const tokenReview = async (token: string, audiences: string[] = []) => {
  const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } };
  const r = await kubectl(['create', '-f', '-', '-o', 'json'], JSON.stringify(review));
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as { status: Record<string, any> }).status;
};

describeRoot('devcluster authentication and RBAC with kubectl', () => {
  jest.setTimeout(120_000);

  beforeAll(async () => {
    // Tokens are refreshed after 0.5% of their lifetime (a 600 s token every 3 s) so rotation shows here.
    cluster = await startDevCluster({
      name,
      nodes: 1,
      images: [path.join(here, 'fixtures/images.json')],
      tokenRefreshFraction: 0.005,
    });
    const r = await devcluster(['kubeconfig', '--name', name, '--host', '--user', 'dev', '--group', 'devs']);
    expect(r.stderr).toBe('');
    dev = r.stdout.trim();
  }, 60_000);

  afterAll(async () => {
    await cluster?.down();
  }, 60_000);

  it('auth whoami: the admin (client certificate, system:masters) and the developer (CN=dev, O=devs)', async () => {
    const admin = await kubectl(['auth', 'whoami', '-o', 'json']);
    expect(JSON.parse(admin.stdout).status.userInfo).toEqual({
      username: 'kubernetes-admin',
      groups: ['system:masters', 'system:authenticated'],
    });
    const d = await kubectl(['auth', 'whoami', '-o', 'json'], '', dev);
    expect(JSON.parse(d.stdout).status.userInfo).toEqual({
      username: 'dev',
      groups: ['devs', 'system:authenticated'],
    });
    expect(dev).toMatch(/users\/dev\.kubeconfig\.host$/);
  });

  it.each([projectKubectl, ...otherKubectls])(
    '%s: Forbidden for the developer with the real message; create role/rolebinding; auth can-i',
    async (bin) => {
      const denied = await kubectl(['get', 'pods'], '', dev, bin);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr.trim()).toBe(
        'Error from server (Forbidden): pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "default"',
      );
      expect((await kubectl(['auth', 'can-i', 'list', 'pods'], '', dev, bin)).stdout.trim()).toBe('no');
      expect(
        (await kubectl(['auth', 'can-i', '*', '*'], '', cluster.hostKubeconfig, bin)).stdout.trim(),
      ).toBe('yes');
      const suffix =
        path.basename(path.dirname(bin)) === 'bin' ? path.basename(path.dirname(path.dirname(bin))) : 'x';
      const role = `reader-${suffix.replace(/[^a-z0-9]/g, '')}`;
      expect(
        (
          await kubectl(
            ['create', 'role', role, '--verb=get,list', '--resource=pods,pods/log'],
            '',
            cluster.hostKubeconfig,
            bin,
          )
        ).stderr,
      ).toBe('');
      expect(
        (
          await kubectl(
            ['create', 'rolebinding', role, `--role=${role}`, '--user=dev'],
            '',
            cluster.hostKubeconfig,
            bin,
          )
        ).stderr,
      ).toBe('');
      try {
        expect((await kubectl(['auth', 'can-i', 'list', 'pods'], '', dev, bin)).stdout.trim()).toBe('yes');
        expect((await kubectl(['auth', 'can-i', 'get', 'pods/log'], '', dev, bin)).stdout.trim()).toBe('yes');
        expect(
          (await kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'kube-system'], '', dev, bin)).stdout.trim(),
        ).toBe('no');
        expect((await kubectl(['auth', 'can-i', 'delete', 'pods'], '', dev, bin)).stdout.trim()).toBe('no');
        const list = await kubectl(['auth', 'can-i', '--list'], '', dev, bin);
        expect(list.stdout).toMatch(/^pods\s+\[\]\s+\[\]\s+\[get list\]$/m);
        expect((await kubectl(['get', 'pods'], '', dev, bin)).code).toBe(0);
      } finally {
        await kubectl(['delete', 'rolebinding', role]);
        await kubectl(['delete', 'role', role]);
      }
    },
  );

  it('create clusterrole/clusterrolebinding for a group; impersonation needs the impersonate verb', async () => {
    await kubectl(['create', 'clusterrole', 'node-reader', '--verb=get,list', '--resource=nodes']);
    await kubectl([
      'create',
      'clusterrolebinding',
      'devs-nodes',
      '--clusterrole=node-reader',
      '--group=devs',
    ]);
    expect((await kubectl(['get', 'nodes', '-o', 'name'], '', dev)).stdout.trim()).toBe('node/node-1');
    expect(
      (await kubectl(['auth', 'can-i', 'list', 'nodes', '--as=dev', '--as-group=devs'])).stdout.trim(),
    ).toBe('yes');
    expect((await kubectl(['auth', 'can-i', 'list', 'nodes', '--as=dev'])).stdout.trim()).toBe('no');
    const imp = await kubectl(['get', 'pods', '--as=kubernetes-admin'], '', dev);
    expect(imp.stderr).toContain(
      'users "kubernetes-admin" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
  });

  it('auth reconcile creates and then leaves alone a Role and its RoleBinding', async () => {
    const file = path.join(path.dirname(dev), 'reconcile.yaml');
    writeFileSync(
      file,
      `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: svc-reader, namespace: default }
rules: [{ apiGroups: [""], resources: ["services"], verbs: ["get", "list"] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: svc-reader, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: svc-reader }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: dev }]
`,
    );
    const first = await kubectl(['auth', 'reconcile', '-f', file]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('missing subjects added');
    expect(first.stdout).toContain('role.rbac.authorization.k8s.io/svc-reader reconciled');
    expect((await kubectl(['auth', 'can-i', 'list', 'services'], '', dev)).stdout.trim()).toBe('yes');
    const again = await kubectl(['auth', 'reconcile', '-f', file]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('create token (audience, duration, bound to a pod); the kubelet mounts a projected token bound to its pod; deleted pod: rejected', async () => {
    await kubectl(['create', 'serviceaccount', 'app']);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'holder', namespace: 'default' },
        spec: {
          serviceAccountName: 'app',
          containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
        },
      }),
    );
    const podUid = (await kubectl(['get', 'pod', 'holder', '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const created = await kubectl([
      'create',
      'token',
      'app',
      '--audience=telepresence',
      '--duration=15m',
      '--bound-object-kind=Pod',
      '--bound-object-name=holder',
    ]);
    expect(created.stderr).toBe('');
    const token = created.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      any
    >;
    expect(claims['aud']).toEqual(['telepresence']);
    expect(claims['exp'] - claims['iat']).toBe(900);
    expect(claims['kubernetes.io'].pod).toEqual({ name: 'holder', uid: podUid });
    const ok = await tokenReview(token, ['telepresence']);
    expect(ok['authenticated']).toBe(true);
    expect(ok['user'].extra['authentication.kubernetes.io/pod-name']).toEqual(['holder']);
    expect((await tokenReview(token, ['elsewhere']))['error']).toContain(
      'is invalid for the target audiences',
    );

    // The kubelet's token at the standard path: the API server's audience, bound to the pod.
    await waitFor('holder running', async () =>
      (await kubectl(['get', 'pod', 'holder', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running'
        ? true
        : undefined,
    );
    const mounted = await cluster.exec('pod/default/holder', [
      'cat',
      '/var/run/secrets/kubernetes.io/serviceaccount/token',
    ]);
    expect(mounted.code).toBe(0);
    const podToken = mounted.stdout.trim();
    const who = await withToken(podToken, ['auth', 'whoami', '-o', 'json']);
    expect(JSON.parse(who.stdout).status.userInfo).toMatchObject({
      username: 'system:serviceaccount:default:app',
      extra: {
        'authentication.kubernetes.io/pod-name': ['holder'],
        'authentication.kubernetes.io/pod-uid': [podUid],
      },
    });
    const forbidden = await withToken(podToken, ['get', 'pods']);
    expect(forbidden.stderr).toContain(
      'pods is forbidden: User "system:serviceaccount:default:app" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    expect((await tokenReview(podToken))['authenticated']).toBe(true);

    await kubectl(['delete', 'pod', 'holder', '--wait=true']);
    for (const t of [token, podToken]) {
      const gone = await tokenReview(t, t === token ? ['telepresence'] : []);
      expect(gone['authenticated']).toBeUndefined();
      expect(gone['error']).toBe(
        '[invalid bearer token, pod "holder" not found: service account token has been invalidated]',
      );
    }
    expect((await withToken(podToken, ['auth', 'whoami'])).stderr).toContain('Unauthorized');
  });

  it('a projected serviceAccountToken volume with its own audience, bound to the pod; mounts outside /run are refused', async () => {
    await kubectl(['create', 'serviceaccount', 'agent']);
    const pod = (name: string, mountPath: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          serviceAccountName: 'agent',
          containers: [
            {
              name: 'c',
              image: 'busybox',
              // Prints the token it sees every second (its own view of the volume, for the rotation below).
              command: ['sh', '-c', 'while true; do cat /run/secrets/tokens/token; echo; sleep 1; done'],
              volumeMounts: [{ name: 'tp-token', mountPath, readOnly: true }],
            },
          ],
          volumes: [
            {
              name: 'tp-token',
              projected: {
                sources: [
                  {
                    serviceAccountToken: { audience: 'telepresence', expirationSeconds: 600, path: 'token' },
                  },
                  { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                ],
              },
            },
          ],
        },
      });
    await kubectl(['apply', '-f', '-'], pod('with-token', '/var/run/secrets/tokens'));
    await waitFor('with-token running', async () =>
      (await kubectl(['get', 'pod', 'with-token', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running'
        ? true
        : undefined,
    );
    const read = await cluster.exec('pod/default/with-token', ['cat', '/var/run/secrets/tokens/token']);
    expect(read.code).toBe(0);
    const token = read.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      any
    >;
    expect(claims['aud']).toEqual(['telepresence']);
    expect(claims['exp'] - claims['iat']).toBe(600);
    const ok = await tokenReview(token, ['telepresence']);
    expect(ok['user'].username).toBe('system:serviceaccount:default:agent');
    expect(ok['user'].extra['authentication.kubernetes.io/pod-name']).toEqual(['with-token']);
    expect(
      (await cluster.exec('pod/default/with-token', ['cat', '/run/secrets/tokens/ca.crt'])).stdout,
    ).toContain('BEGIN CERTIFICATE');
    // Not for the API server itself.
    expect((await withToken(token, ['auth', 'whoami'])).stderr).toContain('Unauthorized');

    // The kubelet replaces the file before the token expires (here after 3 s): a new token for the same
    // pod and audience, issued later; the old one stays valid until its own expiry.
    const rotated = await waitFor('the projected token refreshed', async () => {
      const r = await cluster.exec('pod/default/with-token', ['cat', '/var/run/secrets/tokens/token']);
      const t = r.stdout.trim();
      return r.code === 0 && t !== '' && t !== token ? t : undefined;
    });
    const newClaims = JSON.parse(Buffer.from(rotated.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      any
    >;
    expect(newClaims['iat']).toBeGreaterThan(claims['iat']);
    expect(newClaims['exp'] - newClaims['iat']).toBe(600);
    const again = await tokenReview(rotated, ['telepresence']);
    expect(again['user'].extra['authentication.kubernetes.io/pod-name']).toEqual(['with-token']);
    expect((await tokenReview(token, ['telepresence']))['authenticated']).toBe(true);
    // The running container sees the new token too, not only a new `exec`.
    await waitFor('the container printing the new token', async () =>
      (await kubectl(['logs', 'with-token'])).stdout.includes(rotated) ? true : undefined,
    );

    const tooShort = JSON.parse(pod('short-token', '/run/secrets/tokens')) as any;
    tooShort.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds = 60;
    const refused = await kubectl(['apply', '-f', '-'], JSON.stringify(tooShort));
    expect(refused.stderr).toContain(
      'spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
    );

    await kubectl(['apply', '-f', '-'], pod('elsewhere', '/etc/tokens'));
    const waiting = await waitFor('elsewhere refused', async () => {
      const s = (
        await kubectl([
          'get',
          'pod',
          'elsewhere',
          '-o',
          'jsonpath={.status.containerStatuses[0].state.waiting}',
        ])
      ).stdout;
      return s.includes('CreateContainerConfigError') ? (JSON.parse(s) as { message: string }) : undefined;
    });
    expect(waiting.message).toBe(
      "devcluster mounts projected volumes only under /run or /var/run (containers share the host's other files): /etc/tokens",
    );
  });

  it('a legacy token Secret works while it exists; `devcluster kubeconfig --token` writes a bearer-token user', async () => {
    await kubectl(['create', 'serviceaccount', 'legacy']);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/service-account-token',
        metadata: {
          name: 'app-token',
          namespace: 'default',
          annotations: { 'kubernetes.io/service-account.name': 'legacy' },
        },
      }),
    );
    const token = await waitFor('the token controller', async () => {
      const t = (await kubectl(['get', 'secret', 'app-token', '-o', 'jsonpath={.data.token}'])).stdout;
      return t ? Buffer.from(t, 'base64').toString() : undefined;
    });
    expect(
      JSON.parse((await withToken(token, ['auth', 'whoami', '-o', 'json'])).stdout).status.userInfo.username,
    ).toBe('system:serviceaccount:default:legacy');
    await kubectl(['delete', 'secret', 'app-token']);
    expect((await withToken(token, ['auth', 'whoami'])).stderr).toContain('Unauthorized');

    const tina = await devcluster(['kubeconfig', '--name', name, '--host', '--user', 'tina', '--token']);
    expect(tina.stderr).toBe('');
    const whoTina = await kubectl(['auth', 'whoami', '-o', 'json'], '', tina.stdout.trim());
    expect(JSON.parse(whoTina.stdout).status.userInfo).toEqual({
      username: 'tina',
      uid: 'tina',
      groups: ['system:authenticated'],
    });
    const bad = await devcluster([
      'kubeconfig',
      '--name',
      name,
      '--user',
      'eve',
      '--group',
      'system:masters',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('group "system:masters" is reserved');
  });
});
