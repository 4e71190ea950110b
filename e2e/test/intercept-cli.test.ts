// Intercepts through the real CLI on devcluster (as root): `telepresence connect`, `intercept`, `list`,
// `leave` and `quit` run in the workstation namespace, the local server listens on port 8080 there, and
// the injected traffic-agents run from this repo's build. Complements intercept.test.ts (which drives the
// client's parts in-process to cover every acceptance item in detail).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { jest } from '@jest/globals';
import type { CoreV1Api } from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';

import {
  apply,
  clientMain as cli,
  describeRoot,
  echoFixtureYaml,
  installManager,
  isReady,
  poller,
  startCluster,
  workstationRunner,
} from './helpers/tp-cluster.js';

const until = poller({ timeoutMs: 60_000 });

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
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
`;

// The workstation's local server: port 8080, answers with what it saw.
const localServer = `require('http').createServer((q, s) => { let n = 0; q.on('data', (c) => (n += c.length));
  q.on('end', () => s.end(JSON.stringify({ local: true, headers: q.headers, bytes: n }))); }).listen(8080, '127.0.0.1')`;

describeRoot('telepresence intercept (CLI) on devcluster', () => {
  jest.setTimeout(240_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let work: string;
  let runDir: string;
  let local: ChildProcess | undefined;

  const ws = workstationRunner(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => ws(['node', cli, ...args], 180_000);
  const pods = async (ns: string, selector: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);
  const fromWeb = async (script: string): Promise<string> => {
    const web = (await pods('default', 'app=web'))[0]!;
    const r = await cluster.exec(`pod/default/${web.metadata!.name!}`, ['sh', '-c', script], {
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(`in web pod: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const list = async () =>
    JSON.parse((await tp('list', '-o', 'json')).out) as Array<{
      name: string;
      agent: boolean;
      interceptState: string;
    }>;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'icli-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('icl', { randomChars: 3 });
    ({ core } = await installManager(cluster));
    await apply(cluster, echoFixtureYaml() + '\n---\n' + webYaml);
    await until('manager, echo and web ready', async () =>
      (await pods('ambassador', 'app.kubernetes.io/name=traffic-manager')).length === 1 &&
      (await pods('default', 'app=echo')).length === 2 &&
      (await pods('default', 'app=web')).length === 1
        ? true
        : undefined,
    );
    local = spawn('ip', ['netns', 'exec', cluster.workstationNetns, 'node', '-e', localServer], {
      stdio: 'ignore',
    });
    await until('the local server', async () =>
      (await ws(['curl', '-sS', 'http://127.0.0.1:8080/'])).code === 0 ? true : undefined,
    );
  }, 180_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    local?.kill();
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('connect, intercept echo --port 8080:http, list, in-cluster caller reaches the workstation, origin from the pod, leave, quit', async () => {
    const c = await tp('connect', '--kubeconfig', cluster.kubeconfig, '-o', 'json');
    expect(c.err).toBe('');

    const before = await list();
    expect(before.find((w) => w.name === 'echo')).toMatchObject({ agent: false, interceptState: '' });

    const ic = await tp('intercept', 'echo', '--port', '8080:http', '-o', 'json');
    expect({ code: ic.code, err: ic.err }).toEqual({ code: 0, err: '' });
    // The command waits up to a minute for the rolled-out pods' agents; on a loaded machine it may say WAITING.
    expect(JSON.parse(ic.out)).toMatchObject({ name: 'echo' });
    try {
      await until(
        'list showing echo ACTIVE with agents',
        async () => {
          const echo = (await list()).find((w) => w.name === 'echo');
          return echo?.agent === true && echo.interceptState === 'ACTIVE' ? true : undefined;
        },
        120_000,
      );
    } catch (e) {
      const all = await core.listNamespacedPod({ namespace: 'default' });
      const mgr = (await pods('ambassador', 'app.kubernetes.io/name=traffic-manager'))[0];
      const mgrLog = mgr
        ? await core.readNamespacedPodLog({ namespace: 'ambassador', name: mgr.metadata!.name! })
        : '';
      throw new Error(
        `${(e as Error).message}\npods: ${all.items
          .map(
            (p) =>
              `${p.metadata!.name} ${p.status?.phase} [${p.spec!.containers.map((c) => c.name).join(',')}]`,
          )
          .join('; ')}\nmanager log: ${mgrLog
          .split('\n')
          .filter((l) => /inject|caBundle|agent|intercept/i.test(l))
          .slice(-15)
          .join('\n')}`,
      );
    }

    // ACTIVE = an agent of the workload arrived; the rollout goes on until no old (agent-less) pod is ready.
    await until('the rollout: every ready echo pod has an agent', async () => {
      const ready = await pods('default', 'app=echo');
      return ready.length === 2 &&
        ready.every((p) => p.spec!.containers.some((c) => c.name === 'traffic-agent'))
        ? true
        : undefined;
    });
    // kube-proxy follows the rollout's endpoint changes asynchronously: allow it a moment.
    const seen = await until(
      'a request to echo.default reaching the local server',
      async () => {
        const r = JSON.parse(
          await fromWeb('curl -sS --max-time 20 -H "x-caller: $(hostname)" http://echo.default/'),
        ) as { local?: boolean; headers: Record<string, string> };
        return r.local === true ? r : undefined;
      },
      10_000,
    );
    expect(seen.local).toBe(true);
    expect(seen.headers['x-caller']).toMatch(/^web-/);

    // Connection origin: from the workstation (through the VIF) to another deployment's pod.
    const web = (await pods('default', 'app=web'))[0]!;
    const echoIps = (await pods('default', 'app=echo')).map((p) => p.status!.podIP!);
    const origin = await ws(['curl', '-sS', '--max-time', '10', `http://${web.status!.podIP!}:8080/`]);
    expect(origin.err).toBe('');
    expect(echoIps).toContain((JSON.parse(origin.out) as { remoteAddress: string }).remoteAddress);

    const second = await tp('intercept', 'other', '--port', '8080', '--namespace', 'team-b');
    expect(second.code).toBe(1);
    expect(second.err).toMatch(/cannot span namespaces/);

    const leave = await tp('leave', 'echo');
    expect(leave.out).toMatch(/Left intercept echo/);
    const app = JSON.parse(await fromWeb('curl -sS --max-time 20 http://echo.default/')) as {
      local?: boolean;
      pod: string;
    };
    expect(app.local).toBeUndefined();
    expect(app.pod).toMatch(/^echo-/);

    // quit removes the client's intercepts at the manager.
    expect((await tp('intercept', 'echo', '--port', '8080:http')).code).toBe(0);
    expect((await tp('quit')).code).toBe(0);
    expect((await tp('connect', '--kubeconfig', cluster.kubeconfig, '-o', 'json')).err).toBe('');
    expect((await list()).find((w) => w.name === 'echo')).toMatchObject({ interceptState: '' });
    const again = JSON.parse(await fromWeb('curl -sS --max-time 20 http://echo.default/')) as {
      local?: boolean;
    };
    expect(again.local).toBeUndefined();
  });
});
