// Intercepts end to end on devcluster (as root): the chart (manager + agent-injector webhook) rendered by
// `helm template` and applied; the manager and the injected traffic-agents run by devcluster's kubelet
// from this repo's builds; the client's intercept parts (InterceptController, WatchDial responder) run in
// this process and reach the manager through a Kubernetes port-forward, as the daemon does. The
// "workstation" local server listens on 127.0.0.1 in this process's namespace. Callers are real
// processes (curl, node) inside pods.
//
// Acceptance items (issue 10): 1 inbound (+200 concurrent, 50 MB, leave, other ports/workloads), 2
// connection origin, 3 single-label DNS in the intercepted namespace, 4 second namespace refused, 5 agent
// pod killed mid-intercept, 6 injector down does not stop pods.
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { credentials } from '@grpc/grpc-js';
import { AppsV1Api, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';

import {
  GrpcManagerApi,
  InterceptController,
  startDialResponder,
  type DialResponder,
} from '@telepresence/client';
import type { DevCluster } from '@telepresence/devcluster';
import { ManagerClient, type common, type manager } from '@telepresence/rpc';
import { ConnId, openTunnel } from '@telepresence/tunnel';

import {
  apply,
  bearerOptions,
  decodeRecord,
  describeRoot,
  echoFixtureYaml,
  installManager,
  isReady,
  managerClientToken,
  managerNamespace as mgrNs,
  poller,
  portForward,
  startCluster,
  unaryCall,
  type PortForwarded,
  type Unary,
} from './helpers/tp-cluster.js';

jest.setTimeout(180_000);

const call = unaryCall(20_000);
const until = poller({ timeoutMs: 60_000 });

const extraManifests = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: default, labels: { app: web } }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      hostAliases: [{ ip: 198.18.200.21, hostnames: [shared-db] }]
      containers:
        - name: web
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }, { name: tcp, containerPort: 9000 }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: default, labels: { app: api } }
spec:
  replicas: 1
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      hostAliases: [{ ip: 198.18.200.22, hostnames: [shared-db] }]
      containers:
        - name: api
          image: echo:latest
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: default }
spec:
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: http }]
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
`;

interface EchoReply {
  pod: string;
  podIP: string;
  remoteAddress: string;
}

describeRoot('intercepts on devcluster', () => {
  let cluster: DevCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let work: string;
  let pf: PortForwarded;
  let client: ManagerClient;
  let session: common.SessionInfo;
  let responder: DialResponder;
  let intercepts: InterceptController;
  let local: HttpServer;
  let localPort: number;
  const localSeen: Array<{ headers: Record<string, unknown>; bytes: number; sha: string }> = [];

  const readyPods = async (ns: string, selector: string): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);

  const hasAgent = (p: V1Pod) => p.spec?.containers.some((c) => c.name === 'traffic-agent') === true;

  /** Runs a shell command in a pod of the web deployment (the in-cluster caller). */
  async function inCaller(script: string, timeoutMs = 120_000): Promise<string> {
    const caller = (await readyPods('default', 'app=web'))[0]!;
    const r = await cluster.exec(`pod/default/${caller.metadata!.name!}`, ['sh', '-c', script], {
      timeoutMs,
    });
    if (r.code !== 0) throw new Error(`in caller pod: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async function lookup(name: string): Promise<common.DNSAnswer> {
    const res = await call(
      client,
      client.lookupDns as Unary<manager.LookupDNSRequest, manager.LookupDNSResponse>,
      {
        session,
        question: { name, type: 1 },
      },
    );
    return res.answer!;
  }

  /** A flow from the workstation through the manager (as the VIF would open it): the echo reply's caller. */
  async function outboundCaller(ip: string): Promise<string> {
    const id = ConnId.of(
      'tcp',
      { ip: '198.19.255.2', port: 40000 + Math.floor(Math.random() * 20000) },
      { ip, port: 9000 },
    );
    const stream = await openTunnel(client, { id, sessionId: session.sessionId, dialTimeoutMs: 5000 });
    let got = '';
    const line = new Promise<string>((resolve) =>
      stream.on('data', (c) => {
        got += c.toString();
        if (got.includes('\n')) resolve(got.split('\n')[0]!);
      }),
    );
    stream.resume();
    const dialed = await stream.dialed;
    if (!dialed.ok) throw new Error(`dial rejected: ${dialed.message}`);
    const who = JSON.parse(await line) as EchoReply;
    stream.end();
    await stream.done;
    return who.remoteAddress;
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'ic-e2e-'));
    cluster = await startCluster('ic');
    ({ kc, core } = await installManager(cluster, { release: 'tm', values: ['agent.logLevel=debug'] }));
    apps = kc.makeApiClient(AppsV1Api);
    await apply(cluster, echoFixtureYaml() + '\n---\n' + extraManifests);
    const mgrPod = await until(
      'a ready traffic-manager',
      async () => (await readyPods(mgrNs, 'app.kubernetes.io/name=traffic-manager'))[0],
    );
    await until('echo and web ready', async () =>
      (await readyPods('default', 'app=echo')).length === 2 &&
      (await readyPods('default', 'app=web')).length === 1
        ? true
        : undefined,
    );
    pf = await portForward(kc, mgrNs, mgrPod.metadata!.name!, 8081);
    client = new ManagerClient(
      `127.0.0.1:${pf.port}`,
      credentials.createInsecure(),
      bearerOptions(await managerClientToken(kc, mgrNs)),
    );
    session = (
      await call(
        client,
        client.arriveAsClient as Unary<manager.ArriveAsClientRequest, manager.ArriveAsClientResponse>,
        {
          client: { name: 'e2e', namespace: 'default', installId: 'e2e', version: 'e2e' },
        },
      )
    ).session!;
    const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
    responder = startDialResponder({ api: new GrpcManagerApi(client), session: () => session, log });
    intercepts = new InterceptController({
      client: () => client,
      session: () => session,
      namespace: () => 'default',
      waitActiveMs: 120_000,
    });
    local = createHttpServer((req, res) => {
      const h = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
      });
      req.on('end', () => {
        const seen = { headers: req.headers as Record<string, unknown>, bytes, sha: h.digest('hex') };
        localSeen.push(seen);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ local: true, ...seen }));
      });
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    localPort = (local.address() as AddressInfo).port;
  }, 300_000);

  afterAll(async () => {
    responder?.stop();
    client?.close();
    await pf?.close();
    local?.closeAllConnections();
    local?.close();
    await cluster?.down();
    rmSync(work, { recursive: true, force: true });
  }, 240_000);

  it('1: intercept echo --port LOCAL:http: requests from another pod reach the local server, intact and concurrent', async () => {
    const res = await intercepts.intercept({
      workload: 'echo',
      localPort,
      servicePort: 'http',
      localOnly: false,
      name: '',
      namespace: '',
    });
    expect(res).toMatchObject({ name: 'echo', state: 'ACTIVE' });
    // ACTIVE = an agent of the workload arrived; the rollout goes on until no old (agent-less) pod is ready.
    // ... and until the Service's endpoints (which kube-proxy follows) are those pods only.
    const pods = await until('the rollout: every ready echo pod and endpoint has an agent', async () => {
      const ready = await readyPods('default', 'app=echo');
      const eps = await core.readNamespacedEndpoints({ name: 'echo', namespace: 'default' });
      const ips = [
        ...new Set((eps.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip))),
      ].sort();
      const agentIps = ready.map((p) => p.status?.podIP ?? '').sort();
      return ready.length === 2 && ready.every(hasAgent) && ips.join() === agentIps.join()
        ? ready
        : undefined;
    });
    expect(pods.every(hasAgent)).toBe(true);

    // kube-proxy applies the endpoints change asynchronously: allow it a moment.
    const one = await until(
      'a request to echo.default reaching the local server',
      async () => {
        const r = JSON.parse(
          await inCaller(`curl -sS --max-time 20 -H "x-caller: $(hostname)" http://echo.default/hello`),
        ) as { local?: boolean; headers: Record<string, string> };
        return r.local === true ? r : undefined;
      },
      10_000,
    );
    expect(one.local).toBe(true);
    expect(one.headers['host']).toBe('echo.default');
    expect(one.headers['x-caller']).toMatch(/^web-/);

    const out = await inCaller(
      `seq 1 200 | xargs -P 200 -I{} curl -sS --max-time 60 -o /dev/null -w '%{http_code}\\n' http://echo.default/n{}`,
    );
    expect(
      out
        .trim()
        .split('\n')
        .filter((l) => l === '200'),
    ).toHaveLength(200);

    const up = JSON.parse(
      await inCaller(
        `f=$(mktemp); head -c 52428800 /dev/urandom > $f; sha256sum $f | cut -d' ' -f1 > $f.sha; ` +
          `curl -sS --max-time 120 --data-binary @$f http://echo.default/upload; echo; cat $f.sha; rm -f $f $f.sha`,
      ).then((s) => {
        const [json, sha] = s.trim().split('\n');
        return JSON.stringify({ ...(JSON.parse(json!) as object), expected: sha });
      }),
    ) as { bytes: number; sha: string; expected: string };
    expect(up.bytes).toBe(52428800);
    expect(up.sha).toBe(up.expected);

    // Other ports of the workload and other workloads are not intercepted.
    const tcp = await inCaller(`echo | curl -sS --max-time 10 telnet://echo.default:9000 || true`);
    expect(JSON.parse(tcp.split('\n')[0]!)).toMatchObject({ namespace: 'default' });
    const other = (await readyPods('team-b', 'app=other'))[0]!;
    const otherReply = JSON.parse(
      await inCaller(`curl -sS --max-time 10 http://${other.status!.podIP!}:8080/`),
    ) as EchoReply & { local?: boolean };
    expect(otherReply.local).toBeUndefined();
    expect(otherReply.pod).toMatch(/^other-/);
  });

  it('2: outbound flows originate from the intercepted pod; with only a local-only intercept from the manager pod', async () => {
    const web = (await readyPods('default', 'app=web'))[0]!;
    const echoIps = (await readyPods('default', 'app=echo')).map((p) => p.status!.podIP!);
    expect(echoIps).toContain(await outboundCaller(web.status!.podIP!));

    await intercepts.leave('echo');
    await intercepts.intercept({
      workload: 'web',
      localPort,
      servicePort: 'http',
      localOnly: true,
      name: 'lo',
      namespace: '',
    });
    const mgrPod = (await readyPods(mgrNs, 'app.kubernetes.io/name=traffic-manager'))[0]!;
    expect(await outboundCaller(web.status!.podIP!)).toBe(mgrPod.status!.podIP);
    await intercepts.leave('lo');
  });

  it('1: after leave, requests reach the app container again', async () => {
    const reply = JSON.parse(await inCaller('curl -sS --max-time 10 http://echo.default/')) as EchoReply & {
      local?: boolean;
    };
    expect(reply.local).toBeUndefined();
    expect(reply.pod).toMatch(/^echo-/);
  });

  it('3: while intercepting, single labels resolve in the intercepted namespace; two agents answering differently give the union', async () => {
    await intercepts.intercept({
      workload: 'echo',
      localPort,
      servicePort: 'http',
      localOnly: false,
      name: '',
      namespace: '',
    });
    const svc = await core.readNamespacedService({ namespace: 'default', name: 'web' });
    const a = await lookup('web.');
    expect(a.rcode).toBe(0);
    expect(a.records.map((r) => decodeRecord(r).data)).toEqual([svc.spec!.clusterIP]);
    expect((await lookup('no-such-name.')).rcode).toBe(3);

    // Two intercepting agents that resolve a name differently (their pods' hostAliases): the union.
    for (const workload of ['web', 'api']) {
      const r = await intercepts.intercept({
        workload,
        localPort,
        servicePort: 'http',
        localOnly: false,
        name: workload,
        namespace: '',
      });
      expect(r.state).toBe('ACTIVE');
    }
    const both = await lookup('shared-db.');
    expect(both.rcode).toBe(0);
    expect(both.records.map((r) => decodeRecord(r).data).sort()).toEqual(['198.18.200.21', '198.18.200.22']);
    await intercepts.leave('web');
    await intercepts.leave('api');
  });

  it('4: an intercept in a second namespace is refused with a clear message', async () => {
    await expect(
      intercepts.intercept({
        workload: 'other',
        localPort,
        servicePort: 'http',
        localOnly: false,
        name: 'other',
        namespace: 'team-b',
      }),
    ).rejects.toThrow(
      /intercept "other" is in namespace "team-b" but intercept "echo" is in "default": intercepts of one client cannot span namespaces/,
    );
  });

  it('5: killing an agent pod mid-intercept: the intercept recovers on the new pod; list reports it', async () => {
    const victim = (await readyPods('default', 'app=echo'))[0]!;
    await core.deleteNamespacedPod({ namespace: 'default', name: victim.metadata!.name! });
    await until(
      'a replacement echo pod with an agent',
      async () => {
        const pods = await readyPods('default', 'app=echo');
        return pods.length === 2 &&
          pods.every(hasAgent) &&
          pods.every((p) => p.metadata!.name !== victim.metadata!.name)
          ? true
          : undefined;
      },
      120_000,
    );
    const listed = await until('list shows echo ACTIVE with agents', async () => {
      const l = await intercepts.list();
      const echo = l.workloads.find((w) => w.name === 'echo');
      return echo?.agent === true && echo.interceptState === 'ACTIVE' ? l : undefined;
    });
    expect(listed.workloads.map((w) => w.name)).toEqual(expect.arrayContaining(['echo', 'web']));
    // The new pod's agent gets the intercept snapshot right after it arrives: allow it a moment.
    await until(
      'every request reaching the local server again',
      async () => {
        const seen = localSeen.length;
        const replies = await inCaller(
          'for i in 1 2 3 4 5 6; do curl -sS --max-time 20 http://echo.default/; echo; done',
        );
        const local = replies
          .trim()
          .split('\n')
          .filter((l) => (JSON.parse(l) as { local?: boolean }).local === true).length;
        return local === 6 && localSeen.length === seen + 6 ? true : undefined;
      },
      30_000,
    );
  });

  it('5: after the client departs, its intercepts are gone from the manager', async () => {
    await call(client, client.depart as Unary<manager.DepartRequest, manager.DepartResponse>, { session });
    const other = (
      await call(
        client,
        client.arriveAsClient as Unary<manager.ArriveAsClientRequest, manager.ArriveAsClientResponse>,
        {
          client: { name: 'e2e-2', namespace: 'default', installId: 'e2e', version: 'e2e' },
        },
      )
    ).session!;
    const l = await call(
      client,
      client.listWorkloads as Unary<manager.ListWorkloadsRequest, manager.ListWorkloadsResponse>,
      {
        session: other,
        namespace: 'default',
      },
    );
    expect(l.workloads.flatMap((w) => w.intercepts)).toEqual([]);
    session = other;
    const reply = JSON.parse(await inCaller('curl -sS --max-time 10 http://echo.default/')) as EchoReply & {
      local?: boolean;
    };
    expect(reply.local).toBeUndefined();
  });

  it('6: with the manager (and so the injector) down, new pods still start', async () => {
    await apps.deleteNamespacedDeployment({ namespace: mgrNs, name: 'traffic-manager' });
    await until('no manager pods', async () =>
      (
        await core.listNamespacedPod({
          namespace: mgrNs,
          labelSelector: 'app.kubernetes.io/name=traffic-manager',
        })
      ).items.length === 0
        ? true
        : undefined,
    );
    const before = (await readyPods('default', 'app=web')).map((p) => p.metadata!.name);
    await core.deleteNamespacedPod({ namespace: 'default', name: before[0]! });
    await until(
      'a new web pod running',
      async () => {
        const pods = await readyPods('default', 'app=web');
        return pods.some((p) => !before.includes(p.metadata!.name)) ? true : undefined;
      },
      90_000,
    );
  });
});
