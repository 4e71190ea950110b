// Issue 8, acceptance item 4, end to end on devcluster (as root): with the traffic-manager on
// podCIDRStrategy nodePodCIDRs and the client connected from the workstation namespace, a node added
// while connected (devcluster's addNode: bridge 198.18.3.0/24, Node object, kubelet) shows up in
// `telepresence status` within the manager's debounce, a pod scheduled onto it answers on its pod IP
// through the VIF, and removing the node takes the subnet out of status again.
import { jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { applyManifests, startDevCluster, type DevCluster } from '@telepresence/devcluster';
import {
  plainWorkstation,
  renderChart,
  repo,
  telepresence,
  until,
  type StatusJson,
  type TpCluster,
  type Workstation,
} from './helpers/tp-cluster.js';
import { needs } from 'test-requirements';

const describeRoot = needs('root').describe;
const NEW_NODE_CIDR = '198.18.3.0/24';
/** The chart's subnetDebounce for this run; status must follow a node change within about this. */
const DEBOUNCE_MS = 500;

type Status = StatusJson & { routedSubnets?: string[] };

const isReady = (p: V1Pod): boolean =>
  p.metadata?.deletionTimestamp === undefined &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

describeRoot('a node added while connected (issue 8, item 4)', () => {
  jest.setTimeout(180_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let ws: Workstation;
  let runDir: string;
  let cli: ReturnType<typeof telepresence>;
  let manager: V1Pod;

  const routed = async (): Promise<string[]> => ((await cli.status()) as Status).routedSubnets ?? [];

  beforeAll(async () => {
    runDir = mkdtempSync(path.join(tmpdir(), 'nn-run-'));
    cluster = await startDevCluster({
      name: `nn${Math.random().toString(36).slice(2, 6)}`,
      nodes: 2,
      images: [path.join(repo, 'tools/demo/images.json')],
    });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.hostKubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'ambassador' } } });
    await applyManifests(
      cluster.hostKubeconfig,
      renderChart({ values: ['podCIDRStrategy=nodePodCIDRs', `subnetDebounce=${DEBOUNCE_MS}ms`] }),
      () => undefined,
    );
    manager = await until(
      'a ready traffic-manager',
      async () =>
        (
          await core.listNamespacedPod({
            namespace: 'ambassador',
            labelSelector: 'app.kubernetes.io/name=traffic-manager',
          })
        ).items.find(isReady),
      90_000,
    );
    // The helpers' workstation runner only needs the cluster's workstation namespace.
    const tp: TpCluster = { cluster, core, work: runDir, down: () => cluster.down() };
    ws = plainWorkstation(tp);
    cli = telepresence(ws, runDir, cluster.kubeconfig);
  }, 150_000);

  afterAll(async () => {
    await cli?.quit().catch(() => undefined);
    await cluster?.down();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  }, 60_000);

  it('routes the new node’s podCIDR, reaches a pod on it through the VIF, and drops the subnet on removal', async () => {
    await cli.connect();
    const before = await routed();
    expect(before).toEqual(expect.arrayContaining(['198.18.1.0/24', '198.18.2.0/24']));
    expect(before).not.toContain(NEW_NODE_CIDR);

    // Add the node while connected: status shows its range within the debounce (plus polling slack).
    const added = await cluster.addNode();
    expect(added).toMatchObject({ name: 'node-3', podCIDR: NEW_NODE_CIDR });
    const t0 = Date.now();
    await until('the new node range in status', async () =>
      (await routed()).includes(NEW_NODE_CIDR) ? true : undefined,
    );
    const appearedMs = Date.now() - t0;
    console.log(`${NEW_NODE_CIDR} in status ${appearedMs} ms after node add (debounce ${DEBOUNCE_MS} ms)`);
    expect(appearedMs).toBeLessThan(DEBOUNCE_MS + 5_000);
    expect((await ws.exec('ip', ['route', 'show', NEW_NODE_CIDR])).stdout).toMatch(/dev tel\d+/);

    // A pod scheduled onto the new node answers on its pod IP from the workstation, through the VIF.
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'echo-on-node-3', labels: { app: 'echo-on-node-3' } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': added.name },
          containers: [
            {
              name: 'echo',
              image: 'echo:latest',
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    const pod = await until('echo-on-node-3 ready', async () => {
      const p = await core.readNamespacedPod({ namespace: 'default', name: 'echo-on-node-3' });
      return isReady(p) ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe('node-3');
    const podIp = pod.status?.podIP ?? '';
    expect(podIp).toMatch(/^198\.18\.3\.\d+$/);
    const answer = await ws.exec('curl', ['-sS', '--max-time', '10', `http://${podIp}:8080/`]);
    expect({ code: answer.code, stderr: answer.stderr }).toEqual({ code: 0, stderr: '' });
    // The caller is the traffic-manager: the workstation itself has no route to pods.
    expect(JSON.parse(answer.stdout)).toMatchObject({
      pod: 'echo-on-node-3',
      remoteAddress: manager.status?.podIP,
    });

    // Removing the node stops its pod and takes the range out of status again.
    await cluster.removeNode(added.name);
    const t1 = Date.now();
    const after = await until('the removed node range out of status', async () => {
      const r = await routed();
      return r.includes(NEW_NODE_CIDR) ? undefined : r;
    });
    console.log(`${NEW_NODE_CIDR} left status ${Date.now() - t1} ms after node remove`);
    expect(Date.now() - t1).toBeLessThan(DEBOUNCE_MS + 5_000);
    expect(
      (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=echo-on-node-3' })).items,
    ).toEqual([]);
    expect(after).toEqual(expect.arrayContaining(['198.18.1.0/24', '198.18.2.0/24']));
    expect((await ws.exec('ip', ['route', 'show', NEW_NODE_CIDR])).stdout).toBe('');
    expect((await cli.quit()).code).toBe(0);
  });
});
