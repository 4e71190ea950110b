// End-to-end: a real devcluster (needs root), real kubectl and @kubernetes/client-node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { createCa, issueServerCert } from '../src/api/certs.js';
import { startDevCluster, type DevCluster } from '../src/cluster.js';
import { processRuns } from '../src/state.js';
import { needs } from 'test-requirements';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const repoDir = path.resolve(pkgDir, '../..');
const kubectlBin = path.join(repoDir, 'tools/bin/kubectl');
const describeRoot = needs('root').describe;
const name = `e${process.pid % 100000}`;

let cluster: DevCluster;
let upMs = 0;

async function kubectl(
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      kubectlBin,
      ['--kubeconfig', cluster.hostKubeconfig, ...args],
      (err, stdout, stderr) => {
        resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function echoPods(): Promise<{ name: string; ip: string; node: string }[]> {
  const { stdout } = await kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'json']);
  const list = JSON.parse(stdout) as {
    items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP?: string } }[];
  };
  return list.items.map((p) => ({ name: p.metadata.name, ip: p.status.podIP ?? '', node: p.spec.nodeName }));
}

/** What a run leaves on the host: namespaces, /etc/netns entries, mounts. */
async function leftovers(prefix: string): Promise<string[]> {
  const out: string[] = [];
  const { stdout } = await run('ip', ['netns', 'list']);
  for (const l of stdout.split('\n')) if (l.startsWith(`${prefix}-`)) out.push(`netns ${l}`);
  if (existsSync('/etc/netns'))
    for (const d of readdirSync('/etc/netns')) if (d.startsWith(`${prefix}-`)) out.push(`/etc/netns/${d}`);
  for (const l of readFileSync('/proc/mounts', 'utf8').split('\n'))
    if (l.includes(`/${prefix}-`)) out.push(`mount ${l}`);
  if (existsSync(`/run/devcluster/${prefix}`)) out.push(`/run/devcluster/${prefix}`);
  return out;
}

async function namespacePids(prefix: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const pids: number[] = [];
  for (const l of stdout.split('\n')) {
    const ns = l.split(' ')[0] ?? '';
    if (!ns.startsWith(`${prefix}-`)) continue;
    const r = await run('ip', ['netns', 'pids', ns]);
    pids.push(...r.stdout.split(/\s+/).filter(Boolean).map(Number));
  }
  return pids;
}

/** Running (a zombie waiting for PID 1 to reap it is not). */
const alive = processRuns;

describeRoot('devcluster end to end', () => {
  beforeAll(async () => {
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: pkgDir });
    if (!existsSync(kubectlBin)) await run('bash', [path.join(repoDir, 'tools/fetch-k8s-tools.sh')]);
    const t0 = Date.now();
    cluster = await startDevCluster({ name, nodes: 2, images: [path.join(here, 'fixtures/images.json')] });
    upMs = Date.now() - t0;
  }, 120000);

  afterAll(async () => {
    await cluster?.down();
  }, 60000);

  it('item 1: kubectl get nodes -o wide shows both nodes with their addresses', async () => {
    const { stdout, code } = await kubectl(['get', 'nodes', '-o', 'wide']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/node-1\s+Ready.*198\.18\.1\.1/);
    expect(stdout).toMatch(/node-2\s+Ready.*198\.18\.2\.1/);
    const json = JSON.parse((await kubectl(['get', 'node', 'node-2', '-o', 'json'])).stdout) as {
      spec: { podCIDR: string; podCIDRs: string[] };
    };
    expect(json.spec).toMatchObject({ podCIDR: '198.18.2.0/24', podCIDRs: ['198.18.2.0/24'] });
  });

  it('item 1 + 6: apply of a Deployment and Services is watched by get pods -A -w and becomes ready', async () => {
    let watchOut = '';
    const watcher: ChildProcess = spawn(kubectlBin, [
      '--kubeconfig',
      cluster.hostKubeconfig,
      'get',
      'pods',
      '-A',
      '-w',
    ]);
    watcher.stdout?.on('data', (d: Buffer) => (watchOut += d.toString()));
    try {
      await waitFor('watch started', async () =>
        watchOut.includes('NAMESPACE') || watchOut === '' ? true : undefined,
      );
      const t0 = Date.now();
      const applied = await kubectl(['apply', '-f', path.join(here, 'fixtures/echo.yaml')]);
      expect(applied.stderr).toBe('');
      expect(applied.stdout).toContain('deployment.apps/echo created');
      const rollout = await kubectl(['rollout', 'status', 'deployment/echo', '--timeout=30s']);
      expect(rollout.stdout).toContain('successfully rolled out');
      const readyMs = Date.now() - t0;
      // eslint-disable-next-line no-console -- reports the startup time the issue's goal is about (not a timed assertion)
      console.log(
        `item 6: devcluster up with 2 nodes in ${upMs} ms; echo deployment (2 replicas) ready ${readyMs} ms later; total ${upMs + readyMs} ms (goal < 15000 ms)`,
      );
      await waitFor('watch shows running echo pods', async () =>
        (watchOut.match(/default\s+echo-\S+\s+1\/1\s+Running/g) ?? []).length >= 2 ? true : undefined,
      );
    } finally {
      watcher.kill();
    }
    const pods = await echoPods();
    expect(pods).toHaveLength(2);
    expect(new Set(pods.map((p) => p.node))).toEqual(new Set(['node-1', 'node-2']));
  }, 60000);

  it('item 1: pods answer on their pod IPs and on the ClusterIP from another pod, with the caller address preserved', async () => {
    expect((await kubectl(['run', 'client', '--image=busybox', '--', 'sleep', '3600'])).code).toBe(0);
    const clientIp = await waitFor('client pod running', async () => {
      const out = (await kubectl(['get', 'pod', 'client', '-o', 'jsonpath={.status.phase} {.status.podIP}']))
        .stdout;
      return out.startsWith('Running ') ? out.split(' ')[1] : undefined;
    });
    const [a, b] = await echoPods();
    if (!a || !b) throw new Error('need two pods');
    const direct = await cluster.exec(`pod/default/${a.name}`, [
      'curl',
      '-s',
      '-m',
      '5',
      `http://${b.ip}:8080/direct`,
    ]);
    expect(JSON.parse(direct.stdout)).toMatchObject({
      pod: b.name,
      podIP: b.ip,
      remoteAddress: a.ip,
      url: '/direct',
    });
    const clusterIp = (await kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    expect(clusterIp).toMatch(/^198\.19\.(\d+)\.(\d+)$/);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const viaSvc = await cluster.exec('pod/default/client', [
        'curl',
        '-s',
        '-m',
        '5',
        `http://${clusterIp}/svc`,
      ]);
      const body = JSON.parse(viaSvc.stdout) as { pod: string; remoteAddress: string };
      expect(body.remoteAddress).toBe(clientIp);
      seen.add(body.pod);
    }
    expect([...seen].every((p) => p === a.name || p === b.name)).toBe(true);
    const tcp = await cluster.exec('pod/default/client', [
      'sh',
      '-c',
      `printf 'ping\\n' | nc -q1 ${clusterIp} 9000`,
    ]);
    expect(tcp.stdout).toContain(`"remoteAddress":"${clientIp}"`);
    expect(tcp.stdout).toContain('ping');
    const udp = await cluster.exec('pod/default/client', [
      'sh',
      '-c',
      `printf 'hello' | nc -u -w1 ${clusterIp} 9001`,
    ]);
    expect(JSON.parse(udp.stdout)).toMatchObject({ remoteAddress: clientIp, data: 'hello' });
  }, 60000);

  it('item 1: a Service with an out-of-range clusterIP fails like the real API server', async () => {
    const r = await kubectl([
      'create',
      'service',
      'clusterip',
      't2-tst-dummy',
      '--tcp=443',
      '--clusterip=1.1.1.1',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The range of valid IPs is 198.19.0.0/20');
    expect(r.stderr).toContain(
      'Service "t2-tst-dummy" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}',
    );
  });

  it('pods see the in-cluster API: service-account files, kubernetes service, env, RBAC for their token', async () => {
    const [a] = await echoPods();
    const script = [
      'd=/var/run/secrets/kubernetes.io/serviceaccount',
      'cat $d/namespace; echo',
      // Discovery is allowed to every service account; listing pods is not (RBAC, no binding).
      'for p in /api /api/v1/namespaces/default/pods; do curl -s -o /dev/null -w "%{http_code}\\n" --cacert $d/ca.crt -H "Authorization: Bearer $(cat $d/token)" https://kubernetes.default.svc$p; done',
      'hostname',
    ].join('; ');
    const r = await cluster.exec(`pod/default/${a?.name ?? ''}`, ['sh', '-c', script]);
    expect(r.stdout.split('\n')).toEqual(['default', '200', '403', a?.name, '']);
  });

  it('item 2: client-node lists, watches from a resourceVersion and port-forwards to a pod', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.hostKubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=echo' });
    expect(list.items).toHaveLength(2);
    const events: string[] = [];
    const ctl = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: list.metadata?.resourceVersion ?? '' },
      (t, o) => events.push(`${t} ${o.metadata.name}`),
      () => {},
    );
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'e2e-cm' } } });
    await waitFor('watch event', async () => (events.length > 0 ? true : undefined));
    ctl.abort();
    expect(events).toEqual(['ADDED e2e-cm']);

    const pod = list.items[0]?.metadata?.name ?? '';
    const pf = new k8s.PortForward(kc);
    const server = net.createServer((sock) => void pf.portForward('default', pod, [9000], sock, null, sock));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
        let data = '';
        c.on('data', (d: Buffer) => {
          data += d.toString();
          if (data.includes('through-pf')) {
            c.destroy();
            resolve(data);
          }
        });
        c.on('error', reject);
        c.write('through-pf\n');
      });
      expect(got).toContain(`"pod":"${pod}"`);
    } finally {
      server.close();
    }
  }, 30000);

  it('kubectl port-forward works (SPDY)', async () => {
    const [a] = await echoPods();
    const pf = spawn(kubectlBin, [
      '--kubeconfig',
      cluster.hostKubeconfig,
      'port-forward',
      `pod/${a?.name ?? ''}`,
      ':8080',
    ]);
    try {
      let out = '';
      pf.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const port = await waitFor(
        'port-forward listening',
        async () => /127\.0\.0\.1:(\d+) -> 8080/.exec(out)?.[1],
      );
      const res = await fetch(`http://127.0.0.1:${port}/pf`);
      expect(await res.json()).toMatchObject({ pod: a?.name, url: '/pf' });
    } finally {
      pf.kill();
    }
  }, 30000);

  it('item 3: mutating webhooks change pods at creation, then validating webhooks may refuse any kind; failurePolicy is honoured', async () => {
    const ca = await createCa('webhook-ca');
    const tls = await issueServerCert(ca, 'wh', ['wh.default.svc'], []);
    const caBundle = Buffer.from(ca.cert).toString('base64');
    const manifests = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'wh', namespace: 'default' },
          spec: {
            selector: { matchLabels: { app: 'wh' } },
            template: {
              metadata: { labels: { app: 'wh' } },
              spec: {
                containers: [
                  {
                    name: 'wh',
                    image: 'webhook-test',
                    env: [
                      { name: 'WEBHOOK_CERT', value: tls.cert },
                      { name: 'WEBHOOK_KEY', value: tls.key },
                      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    ],
                    readinessProbe: { tcpSocket: { port: 8443 }, periodSeconds: 1 },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'wh', namespace: 'default' },
          spec: { selector: { app: 'wh' }, ports: [{ port: 443, targetPort: 8443 }] },
        },
      ],
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(manifests))).code).toBe(0);
    expect((await kubectl(['rollout', 'status', 'deployment/wh', '--timeout=30s'])).code).toBe(0);
    const hook = (hookName: string, svc: string, selector: string, policy: string) => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: hookName },
      webhooks: [
        {
          name: `${hookName}.devcluster.test`,
          clientConfig: {
            service: { name: svc, namespace: 'default', path: '/mutate', port: 443 },
            caBundle,
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          objectSelector: { matchLabels: { inject: selector } },
          failurePolicy: policy,
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    });
    expect(
      (await kubectl(['apply', '-f', '-'], JSON.stringify(hook('inject', 'wh', 'yes', 'Fail')))).code,
    ).toBe(0);
    const pod = (n: string, inject: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: n, labels: { inject } },
        spec: { containers: [{ name: 'c', image: 'echo' }] },
      });
    expect((await kubectl(['create', '-f', '-'], pod('mutated', 'yes'))).code).toBe(0);
    const got = JSON.parse((await kubectl(['get', 'pod', 'mutated', '-o', 'json'])).stdout) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    expect(got.metadata.labels['mutated']).toBe('true');
    expect(got.metadata.annotations['devcluster.test/seen-by']).toMatch(/^wh-/);

    // Validating webhooks see the mutated object and refuse with their message; other kinds too.
    const validating = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'deny' },
      webhooks: [
        {
          name: 'deny.devcluster.test',
          clientConfig: {
            service: { name: 'wh', namespace: 'default', path: '/validate', port: 443 },
            caBundle,
          },
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['pods', 'configmaps'],
            },
          ],
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(validating))).code).toBe(0);
    expect((await kubectl(['create', '-f', '-'], pod('validated', 'yes'))).code).toBe(0);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'denied', labels: { deny: 'yes' } } };
    const refusedCm = await kubectl(['create', '-f', '-'], JSON.stringify(cm));
    expect(refusedCm.code).not.toBe(0);
    expect(refusedCm.stderr).toContain(
      'admission webhook "deny.devcluster.test" denied the request: label deny=yes',
    );
    expect((await kubectl(['get', 'configmap', 'denied'])).stderr).toContain('not found');
    await kubectl(['delete', 'validatingwebhookconfiguration', 'deny']);
    await kubectl(['delete', 'pod', 'validated', '--wait=false']);

    expect(
      (await kubectl(['apply', '-f', '-'], JSON.stringify(hook('broken', 'nope', 'broken', 'Ignore')))).code,
    ).toBe(0);
    expect((await kubectl(['create', '-f', '-'], pod('ignored', 'broken'))).code).toBe(0);
    expect(
      (await kubectl(['apply', '-f', '-'], JSON.stringify(hook('broken', 'nope', 'broken', 'Fail')))).code,
    ).toBe(0);
    const failed = await kubectl(['create', '-f', '-'], pod('refused', 'broken'));
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('failed calling webhook "broken.devcluster.test"');
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'inject', 'broken']);
    await kubectl(['delete', 'pod', 'mutated', 'ignored', '--wait=false']);
  }, 60000);

  it('item 4: cluster DNS from a pod; the workstation has no route to the cluster but resolves the upstream zone', async () => {
    const [a, b] = await echoPods();
    const clusterIp = (await kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    const inPod = (cmd: string) =>
      cluster.exec(`pod/default/${a?.name ?? ''}`, ['sh', '-c', cmd]).then((r) => r.stdout.trim());
    expect(await inPod('getent hosts echo.default.svc.cluster.local')).toMatch(
      new RegExp(`^${clusterIp.replace(/\./g, '\\.')}\\s+echo\\.default\\.svc\\.cluster\\.local$`),
    );
    expect(await inPod('getent hosts echo.default')).toContain(clusterIp);
    expect(await inPod('getent hosts echo')).toContain(clusterIp);
    expect(
      (await inPod("getent ahostsv4 echo-headless | awk '{print $1}' | sort -u")).split('\n').sort(),
    ).toEqual([a?.ip, b?.ip].sort());
    expect(await inPod('dig +short SRV _http._tcp.echo.default.svc.cluster.local')).toBe(
      '0 100 80 echo.default.svc.cluster.local.',
    );
    expect(await inPod(`dig +short -x ${clusterIp}`)).toBe('echo.default.svc.cluster.local.');
    expect(
      await inPod(`getent hosts ${(b?.ip ?? '').replace(/\./g, '-')}.default.pod.cluster.local`),
    ).toContain(b?.ip);
    expect(await inPod('getent hosts www.example.test')).toContain('198.19.255.1');
    expect(await inPod('dig +short nonexistent.default.svc.cluster.local; echo rc=$?')).toBe('rc=0');

    const ws = (argv: string[]) => cluster.exec('ws', argv, { timeoutMs: 10000 });
    expect((await ws(['curl', '-s', '-m', '2', `http://${b?.ip ?? ''}:8080/`])).code).not.toBe(0);
    expect((await ws(['curl', '-s', '-m', '2', `http://${clusterIp}/`])).code).not.toBe(0);
    expect((await ws(['getent', 'hosts', 'api.example.test'])).stdout).toMatch(
      /^198\.19\.255\.1\s+api\.example\.test/,
    );
    expect((await ws(['getent', 'hosts', 'echo.default.svc.cluster.local'])).code).not.toBe(0);
    const viaWs = await ws([
      kubectlBin,
      '--kubeconfig',
      cluster.kubeconfig,
      'get',
      'svc',
      'echo',
      '-o',
      'jsonpath={.spec.clusterIP}',
    ]);
    expect(viaWs.stdout).toBe(clusterIp);
  }, 60000);

  it('node add/remove while running: bridge, Node object, pods run there; remove drains and cleans up', async () => {
    const cli = (...args: string[]) =>
      run(process.execPath, [path.join(pkgDir, 'dist/cli.js'), ...args, '--name', name]);
    const routerAddrs = async () =>
      (await run('ip', ['-n', cluster.routerNetns, '-4', '-o', 'addr', 'show'])).stdout;
    const added = await cli('node', 'add', '--json');
    expect(JSON.parse(added.stdout)).toEqual({
      name: 'node-3',
      index: 3,
      podCIDR: '198.18.3.0/24',
      address: '198.18.3.1',
    });
    expect(await routerAddrs()).toMatch(new RegExp(`${name}-br3\\s+inet 198\\.18\\.3\\.1/24`));
    const nodes = await kubectl([
      'get',
      'node',
      'node-3',
      '-o',
      'jsonpath={.spec.podCIDRs[0]} {.status.conditions[-1:].type}={.status.conditions[-1:].status}',
    ]);
    expect(nodes.stdout).toBe('198.18.3.0/24 Ready=True');
    expect(
      JSON.parse((await run('cat', [path.join('/run/devcluster', name, 'ready.json')])).stdout).nodes,
    ).toBe(3);

    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'on-node-3', namespace: 'default' },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'node-3' },
        containers: [
          {
            name: 'echo',
            image: 'echo',
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          },
        ],
      },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(pod))).code).toBe(0);
    expect((await kubectl(['wait', '--for=condition=Ready', 'pod/on-node-3', '--timeout=20s'])).code).toBe(0);
    const ip = (await kubectl(['get', 'pod', 'on-node-3', '-o', 'jsonpath={.status.podIP}'])).stdout;
    expect(ip).toBe('198.18.3.2');
    const [other] = await echoPods();
    const answer = await cluster.exec(`pod/default/${other?.name ?? ''}`, [
      'curl',
      '-s',
      '--max-time',
      '5',
      `http://${ip}:8080/`,
    ]);
    expect(JSON.parse(answer.stdout)).toMatchObject({ pod: 'on-node-3', remoteAddress: other?.ip });

    const removed = await cli('node', 'remove', 'node-3');
    expect(removed.stdout).toContain('node node-3 removed');
    expect((await kubectl(['get', 'pod', 'on-node-3'])).code).not.toBe(0);
    expect((await kubectl(['get', 'node', 'node-3'])).code).not.toBe(0);
    expect(await routerAddrs()).not.toContain('198.18.3.1');
    expect((await cli('node', 'list')).stdout).not.toContain('node-3');
    const missing = await cli('node', 'remove', 'node-3').catch((e: { stderr: string }) => e);
    expect(missing.stderr).toContain('node "node-3" not found; nodes: node-1, node-2');
  }, 60000);

  it('item 1: delete removes the pods and their namespaces', async () => {
    const before = await namespacePids(name);
    const r = await kubectl(['delete', '-f', path.join(here, 'fixtures/echo.yaml')]);
    expect(r.code).toBe(0);
    // Background cascading deletion: the ReplicaSet and then its pods go shortly after the Deployment.
    await waitFor('the echo pods gone', async () => ((await echoPods()).length === 0 ? true : undefined));
    expect(before.length).toBeGreaterThan(0);

    // Deleting a namespace deletes what is in it (pods stopped by their kubelet) and then itself.
    expect((await kubectl(['create', 'namespace', 'doomed'])).code).toBe(0);
    expect((await kubectl(['-n', 'doomed', 'run', 'p', '--image=echo'])).code).toBe(0);
    expect(
      (await kubectl(['-n', 'doomed', 'wait', '--for=condition=Ready', 'pod/p', '--timeout=20s'])).code,
    ).toBe(0);
    const ours = async () =>
      (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${name}-`)).length;
    const netnsBefore = await ours();
    expect((await kubectl(['delete', 'namespace', 'doomed'])).code).toBe(0);
    expect((await kubectl(['get', 'namespace', 'doomed'])).code).not.toBe(0);
    expect(await ours()).toBe(netnsBefore - 1);
  }, 60000);

  it('item 5: an up after kill -9 of the supervisor succeeds, and down leaves nothing behind', async () => {
    expect(
      (
        await kubectl([
          'create',
          'deployment',
          'sleeper',
          '--image=busybox',
          '--replicas=2',
          '--',
          'sleep',
          '3600',
        ])
      ).code,
    ).toBe(0);
    expect((await kubectl(['run', 'single', '--image=echo'])).code).toBe(0);
    await waitFor('sleeper running', async () =>
      (await kubectl(['get', 'pods', '-l', 'app=sleeper'])).stdout.match(/Running/g)?.length === 2
        ? true
        : undefined,
    );
    // A node added at run time is cleaned up after the crash like the rest.
    expect((await cluster.addNode({ name: 'extra' })).podCIDR).toBe('198.18.3.0/24');
    const pids = await namespacePids(name);
    expect(pids.length).toBeGreaterThan(1);
    // As if the watchdog were gone too (it would clean up by itself: next test).
    const watchdog = Number(
      readFileSync(path.join(path.dirname(cluster.kubeconfig), 'watchdog.pid'), 'utf8'),
    );
    process.kill(watchdog, 'SIGKILL');
    process.kill(cluster.pid, 'SIGKILL');
    await waitFor('supervisor gone', async () => (alive(cluster.pid) ? undefined : true));
    expect((await leftovers(name)).length).toBeGreaterThan(0); // the crash left its namespaces

    cluster = await startDevCluster({ name, nodes: 1 });
    expect(pids.filter(alive)).toEqual([]);
    expect((await kubectl(['get', 'nodes'])).stdout).toContain('node-1');
    expect((await run('ip', ['-n', cluster.routerNetns, 'link', 'show'])).stdout).not.toContain(
      `${name}-br3`,
    );
    const newPids = await namespacePids(name);
    await cluster.down();
    expect(await leftovers(name)).toEqual([]);
    expect(newPids.filter(alive)).toEqual([]);
  }, 90000);

  it('issue 16 item 8: after kill -9 of the supervisor, its watchdog ends the pods and removes the run', async () => {
    cluster = await startDevCluster({ name, nodes: 1 });
    expect((await kubectl(['run', 'orphan', '--image=busybox', '--', 'sleep', '3600'])).code).toBe(0);
    await waitFor('orphan running', async () =>
      (await kubectl(['get', 'pod', 'orphan', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running'
        ? true
        : undefined,
    );
    const pids = await namespacePids(name);
    expect(pids.length).toBeGreaterThan(1);
    process.kill(cluster.pid, 'SIGKILL');
    await waitFor('the watchdog removing the run', async () =>
      (await leftovers(name)).length === 0 && pids.filter(alive).length === 0 ? true : undefined,
    );
  }, 60000);
});

describeRoot('devcluster --recursive-dns', () => {
  const rname = `r${process.pid % 100000}`;
  let rc: DevCluster;

  beforeAll(async () => {
    rc = await startDevCluster({ name: rname, nodes: 1, recursiveDns: true });
  }, 60000);

  afterAll(async () => {
    await rc?.down();
  }, 60000);

  it('resolves non-cluster names with the workstation resolver of the moment', async () => {
    const k = (args: string[]) => run(kubectlBin, ['--kubeconfig', rc.hostKubeconfig, ...args]);
    await k(['run', 'probe', '--image=busybox', '--', 'sleep', '3600']);
    await waitFor('probe running', async () =>
      (await k(['get', 'pod', 'probe', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running'
        ? true
        : undefined,
    );
    const inPod = (cmd: string) => rc.exec('pod/default/probe', ['sh', '-c', cmd]);
    // A fresh cluster: the kubernetes Service works before any Service changed.
    expect(
      (await inPod('curl -sk -o /dev/null -w "%{http_code}" https://kubernetes.default/version')).stdout,
    ).toBe('200');
    expect((await inPod('getent hosts one.example.test')).stdout).toMatch(/^198\.19\.255\.1\s/);
    const resolvConf = `/etc/netns/${rname}-ws/resolv.conf`;
    const original = readFileSync(resolvConf, 'utf8');
    try {
      writeFileSync(resolvConf, 'nameserver 198.19.255.77\n'); // nothing answers there
      expect((await inPod('dig +tries=1 +time=4 +short two.example.test')).stdout).not.toContain(
        '198.19.255.1',
      );
    } finally {
      writeFileSync(resolvConf, original);
    }
    expect((await inPod('getent hosts three.example.test')).stdout).toMatch(/^198\.19\.255\.1\s/);
  }, 60000);
});
