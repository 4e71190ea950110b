// End to end on devcluster (as root): the chart rendered by `helm template` and applied, the manager run by
// devcluster's kubelet from this repo's build (image "traffic-manager" -> apps/traffic-manager/dist/main.js),
// and a real grpc-js client reaching it through a Kubernetes port-forward (@kubernetes/client-node).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AppsV1Api, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';
import { ManagerClient, type manager } from '@telepresence/rpc';
import { coveringCidrs, formatCidr } from '@telepresence/subnets';
import { ConnId, openTunnel } from '@telepresence/tunnel';

import {
  apply,
  bearerOptions,
  clusterApi,
  decodeRecord,
  describeRoot,
  echoFixtureYaml,
  isReady,
  managerClientToken,
  managerNamespace as namespace,
  poller,
  portForward,
  renderChart,
  startCluster,
  unaryCall,
} from './helpers/tp-cluster.js';

const call = unaryCall(10_000);
const until = poller({ timeoutMs: 20_000, intervalMs: 200 });

describeRoot('traffic-manager on devcluster', () => {
  let cluster: DevCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let work: string;

  const managerPod = (): Promise<V1Pod> =>
    until('a ready traffic-manager pod', async () => {
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: 'app.kubernetes.io/name=traffic-manager',
      });
      return pods.items.find(isReady);
    });

  const logsOf = async (pod: V1Pod): Promise<string> =>
    core.readNamespacedPodLog({ namespace, name: pod.metadata!.name! });

  const waitForLog = (pod: V1Pod, pattern: RegExp) =>
    until(`log ${pattern}`, async () => ((await logsOf(pod)).match(pattern) ? true : undefined));

  async function install(values: string[]): Promise<V1Pod> {
    await apps.deleteNamespacedDeployment({ namespace, name: 'traffic-manager' }).catch(() => undefined);
    await until('old manager pods gone', async () => {
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: 'app.kubernetes.io/name=traffic-manager',
      });
      return pods.items.length === 0 ? true : undefined;
    });
    await apply(cluster, renderChart({ release: 'tm', values }));
    return managerPod();
  }

  async function connectManager(pod: V1Pod) {
    const api = await portForward(kc, namespace, pod.metadata!.name!, 8081);
    const client = new ManagerClient(
      `127.0.0.1:${api.port}`,
      credentials.createInsecure(),
      bearerOptions(await managerClientToken(kc, namespace)),
    );
    return {
      client,
      async close() {
        client.close();
        await api.close();
      },
    };
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'tm-e2e-'));
    cluster = await startCluster('tm');
    ({ kc, core } = clusterApi(cluster));
    apps = kc.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await apply(cluster, echoFixtureYaml());
  }, 60_000);

  afterAll(async () => {
    await cluster?.down();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  describe('with podCIDRStrategy nodePodCIDRs', () => {
    let pod: V1Pod;
    let conn: Awaited<ReturnType<typeof connectManager>>;
    let session: manager.ArriveAsClientResponse['session'];

    beforeAll(async () => {
      pod = await install(['podCIDRStrategy=nodePodCIDRs', 'subnetDebounce=200ms']);
      conn = await connectManager(pod);
      session = (
        await call(conn.client, conn.client.arriveAsClient, {
          client: { name: 'e2e', namespace: 'default', installId: 'e2e', version: 'e2e' },
        })
      ).session;
    }, 60_000);
    afterAll(() => conn?.close());

    it('finds the service subnet by the ServiceCIDR API and creates no dummy Service', async () => {
      await waitForLog(pod, /service subnet 198\.19\.0\.0\/20 \(found by serviceCIDR-api\)/);
      const err = await core
        .readNamespacedService({ namespace, name: 't2-tst-dummy' })
        .catch((e: unknown) => e);
      expect((err as { code?: number }).code).toBe(404);
    });

    it('finds the node pod subnets', async () => {
      await waitForLog(pod, /pod subnets 198\.18\.1\.0\/24 198\.18\.2\.0\/24 \(nodePodCIDRs\)/);
    });

    it('pushes cluster info, and a new node within the debounce time', async () => {
      const stream = conn.client.watchClusterInfo({ session });
      const seen: string[][] = [];
      stream.on('data', (i: manager.ClusterInfo) =>
        seen.push(i.podSubnets.map((n) => `${[...n.ip].join('.')}/${n.mask}`)),
      );
      stream.on('error', () => undefined);
      await until('initial pod subnets', () => (seen.at(-1)?.length === 2 ? true : undefined));
      await core.createNode({
        body: {
          metadata: { name: 'node-9' },
          spec: { podCIDR: '198.18.9.0/24', podCIDRs: ['198.18.9.0/24'] },
        },
      });
      const started = Date.now();
      await until('node-9 subnet', () => (seen.at(-1)?.includes('198.18.9.0/24') ? true : undefined), 5000);
      expect(Date.now() - started).toBeLessThan(3000);
      await core.deleteNode({ name: 'node-9' });
      await until('node-9 gone', () => (seen.at(-1)?.includes('198.18.9.0/24') ? undefined : true), 5000);
      stream.cancel();
    });

    it('tunnels to the echo pod IP and ClusterIP, from the manager pod IP; refuses a closed port', async () => {
      const echoPod = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=echo' }))
        .items[0]!;
      const echoSvc = await core.readNamespacedService({ namespace: 'default', name: 'echo' });
      for (const ip of [echoPod.status!.podIP!, echoSvc.spec!.clusterIP!]) {
        const id = ConnId.of(
          'tcp',
          { ip: '198.18.0.1', port: 41000 + Math.floor(Math.random() * 1000) },
          { ip, port: 9000 },
        );
        const stream = await openTunnel(conn.client, {
          id,
          sessionId: session!.sessionId,
          dialTimeoutMs: 3000,
        });
        let got = '';
        const firstLine = new Promise<string>((resolve) => {
          stream.on('data', (c) => {
            got += c.toString();
            if (got.includes('\n')) resolve(got.split('\n')[0]!);
          });
        });
        stream.resume();
        expect(await stream.dialed).toEqual({ ok: true });
        const who = JSON.parse(await firstLine) as { remoteAddress: string };
        expect(who.remoteAddress).toBe(pod.status!.podIP);
        stream.write(Buffer.from('ping\n'));
        await until('echo', () => (got.includes('ping') ? true : undefined), 5000);
        stream.end();
        await stream.done;
      }
      const closed = ConnId.of(
        'tcp',
        { ip: '198.18.0.1', port: 42001 },
        { ip: echoPod.status!.podIP!, port: 9999 },
      );
      const rejected = await openTunnel(conn.client, {
        id: closed,
        sessionId: session!.sessionId,
        dialTimeoutMs: 3000,
      });
      rejected.resume();
      expect(await rejected.dialed).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
    });

    it('resolves names in the cluster with the client namespace as search context', async () => {
      const echoSvc = await core.readNamespacedService({ namespace: 'default', name: 'echo' });
      for (const name of ['echo.default.svc.cluster.local.', 'echo.default.', 'echo.']) {
        const res = await call(conn.client, conn.client.lookupDns, { session, question: { name, type: 1 } });
        expect(res.answer?.rcode).toBe(0);
        expect(res.answer!.records.map((r) => decodeRecord(r).data)).toEqual([echoSvc.spec!.clusterIP]);
      }
      const nx = await call(conn.client, conn.client.lookupDns, {
        session,
        question: { name: 'nope.default.svc.cluster.local.', type: 1 },
      });
      expect(nx.answer?.rcode).toBe(3);
    });

    it('serves /metrics', async () => {
      const m = await portForward(kc, namespace, pod.metadata!.name!, 9464);
      try {
        const text = await until('metrics', async () => {
          const r = await fetch(`http://127.0.0.1:${m.port}/metrics`);
          return r.ok ? r.text() : undefined;
        });
        for (const name of [
          'traffic_manager_sessions{kind="client"} 1',
          'traffic_manager_tunnels_active',
          'traffic_manager_tunnel_bytes_total{direction="from_client"}',
          'traffic_manager_dials_total{result="ok"}',
          'traffic_manager_dials_total{result="refused"}',
          'traffic_manager_dns_lookups_total{result="noerror"}',
          'traffic_manager_dns_lookups_total{result="nxdomain"}',
        ]) {
          expect(text).toContain(name);
        }
      } finally {
        await m.close();
      }
    });

    it('when the manager pod is killed: restarted, the session ends with a clear error, arriving again works', async () => {
      const stream = conn.client.watchClusterInfo({ session });
      stream.on('data', () => undefined);
      const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      await core.deleteNamespacedPod({ namespace, name: pod.metadata!.name! });
      const err = await ended;
      // SIGTERM: the manager ends every session's streams before it exits.
      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toMatch(/traffic-manager is shutting down; arrive again/);
      const next = await until(
        'a new manager pod',
        async () => {
          const p = await managerPod();
          return p.metadata!.name !== pod.metadata!.name ? p : undefined;
        },
        30_000,
      );
      await conn.close();
      conn = await connectManager(next);
      const stale = await call(conn.client, conn.client.remain, { session }).catch(
        (e: unknown) => e as ServiceError,
      );
      expect((stale as ServiceError).code).toBe(status.NOT_FOUND);
      expect((stale as ServiceError).details).toMatch(/arrive again/);
      session = (
        await call(conn.client, conn.client.arriveAsClient, {
          client: { name: 'e2e', namespace: 'default', installId: 'e2e', version: 'e2e' },
        })
      ).session;
      expect(session?.sessionId).toBeTruthy();
      pod = next;
    }, 60_000);
  });

  it('with coverPodIPs: the covering CIDRs of the actual pod IPs', async () => {
    const pod = await install(['podCIDRStrategy=coverPodIPs']);
    const pods = await core.listPodForAllNamespaces();
    const ips = pods.items
      .filter((p) => !p.spec?.hostNetwork && p.status?.podIP && p.status.phase === 'Running')
      .map((p) => p.status!.podIP!);
    const expected = coveringCidrs(ips).map(formatCidr).join(' ');
    await waitForLog(pod, new RegExp(`pod subnets ${expected.replace(/[./]/g, '\\$&')} \\(coverPodIPs\\)`));
  }, 60_000);

  it('with environment: exactly the configured list', async () => {
    const pod = await install(['podCIDRStrategy=environment', 'podCIDRs={198.18.0.0/17,198.18.128.0/17}']);
    await waitForLog(pod, /pod subnets 198\.18\.0\.0\/17 198\.18\.128\.0\/17 \(environment\)/);
  }, 60_000);
});
