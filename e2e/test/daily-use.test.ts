// Issue 18, used as a developer uses it for a day, through the real CLI in the workstation namespace
// (as root) on devcluster: intercepts survive a traffic-manager restart (scaled to 0 and back with
// kubectl), an agent-only name stops resolving at `leave`, status and `list -n` show intercepts, and
// connect while connected never silently ignores new flags.
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
  execAsync,
  installManager,
  isReady,
  managerNamespace,
  poller,
  repo,
  startCluster,
  workstationRunner,
} from './helpers/tp-cluster.js';

const until = poller({ timeoutMs: 60_000 });
const kubectl = path.join(repo, 'tools/bin/kubectl');
/** Only the hello pods resolve this name (hostAliases): it resolves from the workstation only through their agents. */
const AGENT_ONLY = 'agent-only-db';
const AGENT_ONLY_IP = '198.18.200.31';

const manifests = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello, namespace: default, labels: { app: hello } }
spec:
  replicas: 1
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello } }
    spec:
      hostAliases: [{ ip: ${AGENT_ONLY_IP}, hostnames: [${AGENT_ONLY}] }]
      containers:
        - name: hello
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
---
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec:
  selector: { app: hello }
  ports: [{ name: http, port: 80, targetPort: http }]
---
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
kind: Namespace
metadata: { name: team-b }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: other, namespace: team-b, labels: { app: other } }
spec:
  replicas: 1
  selector: { matchLabels: { app: other } }
  template:
    metadata: { labels: { app: other } }
    spec:
      containers:
        - name: other
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: team-b }
spec:
  selector: { app: other }
  ports: [{ name: http, port: 80, targetPort: http }]
${namespacedService('team-c', 'third')}
`;

/** A namespace with one echo deployment and its service (port 80). */
function namespacedService(namespace: string, name: string): string {
  return `---
apiVersion: v1
kind: Namespace
metadata: { name: ${namespace} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace}, labels: { app: ${name} } }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: ${name}
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: http }]
`;
}

// The workstation's local server: port 8080, says it is local.
const localServer = `require('http').createServer((q, s) => s.end(JSON.stringify({ local: true }))).listen(8080, '127.0.0.1')`;

interface InterceptLine {
  name: string;
  workload: string;
  namespace: string;
  servicePort: string;
  localPort: number;
  state: string;
  message: string;
}
interface Status {
  connected: boolean;
  namespace: string;
  neverProxiedSubnets: string[];
  outage: string;
  intercepts: InterceptLine[];
  dns: { mappedNamespaces: string[]; mappedNamespacesReason: string };
}

describeRoot('daily use (issue 18) on devcluster', () => {
  jest.setTimeout(300_000);
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
  const status = async (): Promise<Status> => JSON.parse((await tp('status', '-o', 'json')).out) as Status;
  const dig = async (name: string): Promise<string> =>
    (await ws(['dig', '+short', '+time=2', '+tries=1', name])).out.trim();
  const pods = async (ns: string, selector: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);
  const list = async (...args: string[]) =>
    JSON.parse((await tp('list', '-o', 'json', ...args)).out) as Array<{
      name: string;
      namespace: string;
      agent: boolean;
      interceptState: string;
      interceptMessage: string;
    }>;
  /** A request from the web pod to hello.default: true when it reached the workstation. */
  const helloIsLocal = async (): Promise<boolean> => {
    const web = (await pods('default', 'app=web'))[0]!;
    const r = await cluster.exec(
      `pod/default/${web.metadata!.name!}`,
      ['sh', '-c', 'curl -sS --max-time 5 http://hello.default/'],
      { timeoutMs: 20_000 },
    );
    return r.code === 0 && (JSON.parse(r.stdout) as { local?: boolean }).local === true;
  };
  /** Waits until requests to hello reach the workstation again; the milliseconds that took. */
  const helloBackWithin = async (ms: number): Promise<number> => {
    const from = Date.now();
    await until(
      `requests to hello reaching the workstation within ${ms} ms`,
      async () => ((await helloIsLocal()) ? true : undefined),
      ms,
    );
    return Date.now() - from;
  };
  const kubectlRun = (...args: string[]) =>
    execAsync(kubectl, ['--kubeconfig', cluster.hostKubeconfig, ...args]);
  /** curl from the workstation: the Host header the echo server saw, or undefined when it fails. */
  const curlWs = async (url: string): Promise<string | undefined> => {
    const r = await ws(['curl', '-sS', '--max-time', '5', url]);
    return r.code === 0 ? (JSON.parse(r.out) as { headers: { host: string } }).headers.host : undefined;
  };
  const scaleManager = (replicas: number) =>
    execAsync(kubectl, [
      '--kubeconfig',
      cluster.hostKubeconfig,
      '-n',
      managerNamespace,
      'scale',
      'deployment/traffic-manager',
      `--replicas=${replicas}`,
    ]);
  const managerPods = async () =>
    (
      await core.listNamespacedPod({
        namespace: managerNamespace,
        labelSelector: 'app.kubernetes.io/name=traffic-manager',
      })
    ).items;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'daily-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('i18d', { randomChars: 2 });
    ({ core } = await installManager(cluster));
    await apply(cluster, manifests);
    await until(
      'manager, hello, web and other ready',
      async () =>
        (await pods(managerNamespace, 'app.kubernetes.io/name=traffic-manager')).length === 1 &&
        (await pods('default', 'app=hello')).length === 1 &&
        (await pods('default', 'app=web')).length === 1 &&
        (await pods('team-b', 'app=other')).length === 1 &&
        (await pods('team-c', 'app=third')).length === 1
          ? true
          : undefined,
      180_000,
    );
    local = spawn('ip', ['netns', 'exec', cluster.workstationNetns, 'node', '-e', localServer], {
      stdio: 'ignore',
    });
    await until('the local server', async () =>
      (await ws(['curl', '-sS', 'http://127.0.0.1:8080/'])).code === 0 ? true : undefined,
    );
    const c = await tp('connect', '--kubeconfig', cluster.kubeconfig);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}${c.err}`);
  }, 300_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    local?.kill();
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('an intercept survives a traffic-manager restart; an agent-only name stops resolving at leave; status and list -n show intercepts', async () => {
    // Before the intercept the agent-only name does not resolve (the manager's pod does not know it).
    expect(await dig(AGENT_ONLY)).toBe('');

    const ic = await tp('intercept', 'hello', '--port', '8080:http');
    expect({ code: ic.code, err: ic.err }).toEqual({ code: 0, err: '' });
    await until(
      'hello intercepted: its rolled pod has an agent and requests reach the workstation',
      async () => ((await helloIsLocal()) ? true : undefined),
      180_000,
    );
    // Through the intercepting agent the workstation resolves what only the hello pod can.
    await until('the agent-only name through the agent', async () =>
      (await dig(AGENT_ONLY)) === AGENT_ONLY_IP ? true : undefined,
    );

    // status (json and human) and list -n show the intercept.
    const st = await status();
    expect(st.intercepts).toEqual([
      expect.objectContaining({
        name: 'hello',
        workload: 'hello',
        namespace: 'default',
        servicePort: 'http',
        localPort: 8080,
        state: 'ACTIVE',
      }),
    ]);
    expect((await tp('status')).out).toContain(
      '    hello: default/hello, port http -> 127.0.0.1:8080, ACTIVE',
    );
    expect((await list('-n', 'default')).find((w) => w.name === 'hello')).toMatchObject({
      agent: true,
      interceptState: 'ACTIVE',
    });
    expect(await list('--namespace', 'team-b')).toEqual([
      expect.objectContaining({ name: 'other', namespace: 'team-b', interceptState: '' }),
    ]);

    // The manager goes away: status and list say so.
    expect((await scaleManager(0)).code).toBe(0);
    await until('no traffic-manager pod', async () =>
      (await managerPods()).length === 0 ? true : undefined,
    );
    const down = await until('status showing the outage', async () => {
      const s = await status();
      return s.outage !== '' && s.intercepts[0]?.state === 'RE-CREATING' ? s : undefined;
    });
    expect(down.intercepts[0]!.message).toMatch(/unreachable/);
    const listDown = await tp('list');
    expect(listDown.code).toBe(1);
    expect(listDown.err).toMatch(/traffic-manager/);

    // Back: within 30 s of the new manager being ready, requests reach the workstation again, no command.
    expect((await scaleManager(1)).code).toBe(0);
    await until('a ready traffic-manager', async () =>
      (await managerPods()).some(isReady) ? true : undefined,
    );
    console.log(`intercept back ${await helloBackWithin(30_000)} ms after the new traffic-manager was ready`);
    const after = await until('status: the intercept ACTIVE, no outage', async () => {
      const s = await status();
      return s.outage === '' && s.intercepts[0]?.state === 'ACTIVE' ? s : undefined;
    });
    expect(after.intercepts).toHaveLength(1);
    expect((await list()).find((w) => w.name === 'hello')).toMatchObject({ interceptState: 'ACTIVE' });

    // The manager pod replaced at once: the new one has another address (the Service is headless), and
    // the agent finds it in seconds. Its grpc-js channel kept dialing the old address, and looked the name
    // up again at most every 30 s: intercepts were back 26 s after the new pod was ready, or not at all.
    const oldPod = (await managerPods()).find(isReady)!;
    expect(
      (await kubectlRun('-n', managerNamespace, 'delete', 'pod', oldPod.metadata!.name!, '--wait=false'))
        .code,
    ).toBe(0);
    const newPod = await until('a new ready traffic-manager pod', async () =>
      (await managerPods()).find((p) => isReady(p) && p.metadata!.uid !== oldPod.metadata!.uid),
    );
    expect(newPod.status!.podIP).not.toBe(oldPod.status!.podIP);
    console.log(
      `intercept back ${await helloBackWithin(10_000)} ms after the replacing traffic-manager was ready`,
    );

    // leave: the agent-only name stops resolving at once (cached answers from agents are flushed).
    expect(await dig(AGENT_ONLY)).toBe(AGENT_ONLY_IP);
    expect((await tp('leave', 'hello')).code).toBe(0);
    // The very next lookup (not after a wait): before the fix the cached answer lasted up to 60 s.
    expect(await dig(AGENT_ONLY)).toBe('');
    expect((await status()).intercepts).toEqual([]);
  });

  it('maps every namespace (one made after connect too; a deleted one stops), --mapped-namespaces narrows; connect | head -1 ends quietly', async () => {
    const st = await status();
    expect(st.dns.mappedNamespaces).toEqual(
      expect.arrayContaining(['ambassador', 'default', 'team-b', 'team-c']),
    );
    expect(st.dns.mappedNamespacesReason).toBe(
      'all namespaces you may list (followed as they are created and deleted)',
    );
    expect((await tp('status')).out).toMatch(
      /Mapped namespaces: .*team-b, team-c.* \(all namespaces you may list/,
    );
    // <svc>.<ns> for namespaces other than the connected one (the bug: NXDOMAIN).
    expect(await curlWs('http://other.team-b/')).toBe('other.team-b');
    expect(await curlWs('http://third.team-c/')).toBe('third.team-c');

    // A namespace made after connect resolves without reconnecting.
    await apply(cluster, namespacedService('team-d', 'fourth'));
    await until('fourth.team-d through the workstation', async () =>
      (await curlWs('http://fourth.team-d/')) === 'fourth.team-d' ? true : undefined,
    );
    expect((await status()).dns.mappedNamespaces).toContain('team-d');

    // Deleted: no longer mapped, the name stops resolving.
    expect((await kubectlRun('delete', 'namespace', 'team-d', '--wait=false')).code).toBe(0);
    await until('team-d unmapped', async () =>
      (await status()).dns.mappedNamespaces.includes('team-d') ? undefined : true,
    );
    expect(await dig('fourth.team-d')).toBe('');

    // Narrowed (and connect piped into head -1: no EPIPE stack trace, status 0).
    expect((await tp('quit')).code).toBe(0);
    const piped = await ws(
      [
        'bash',
        '-o',
        'pipefail',
        '-c',
        `node ${cli} connect --kubeconfig ${cluster.kubeconfig} --mapped-namespaces team-b | head -1`,
      ],
      180_000,
    );
    expect({ code: piped.code, err: piped.err, lines: piped.out.trim().split('\n').length }).toEqual({
      code: 0,
      err: '',
      lines: 1,
    });
    const narrowed = await until('connected again', async () => {
      const s = await status();
      return s.connected ? s : undefined;
    });
    expect(narrowed.dns.mappedNamespaces).toEqual(['team-b']);
    expect(narrowed.dns.mappedNamespacesReason).toBe(
      'narrowed by --mapped-namespaces / cluster.mappedNamespaces',
    );
    expect(await curlWs('http://other.team-b/')).toBe('other.team-b');
    expect(await dig('third.team-c')).toBe('');
    expect(await curlWs('http://third.team-c.svc.cluster.local/')).toBe('third.team-c.svc.cluster.local');
  });

  it('connect while connected: the same flags report the connection; other flags fail naming the difference and change nothing', async () => {
    const same = await tp('connect', '--kubeconfig', cluster.kubeconfig, '--mapped-namespaces', 'team-b');
    expect({ code: same.code, err: same.err }).toEqual({ code: 0, err: '' });
    expect(same.out).toMatch(/Already connected with these settings/);

    const other = await tp(
      'connect',
      '--kubeconfig',
      cluster.kubeconfig,
      '--namespace',
      'team-c',
      '--never-proxy',
      '198.18.5.0/24',
    );
    expect(other.code).toBe(1);
    expect(other.err).toBe(
      'telepresence connect: already connected with other settings: --namespace is "default" (asked: "team-c"); ' +
        '--never-proxy is none (asked: 198.18.5.0/24); nothing was changed; run telepresence quit, then connect with the new settings\n',
    );
    const st = await status();
    expect(st.namespace).toBe('default');
    expect(st.neverProxiedSubnets).not.toContain('198.18.5.0/24');
    expect(st.dns.mappedNamespaces).toEqual(['team-b']);
  });
});
