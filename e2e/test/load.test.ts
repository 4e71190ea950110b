// End to end under load (issue 15), as root on devcluster: python sockets in the workstation namespace
// through the VIF, the tunnel, the port-forward and the traffic-manager to a Python TCP echo Service with
// two pods. Every byte that comes back is checked against what was sent (a flow's own random pattern), so
// a corrupted, truncated or mixed-up byte fails the flow as "corrupt", and a refused connect as "refused".
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { jest } from '@jest/globals';
import type { CoreV1Api } from '@kubernetes/client-node';

import type { DevCluster } from '@telepresence/devcluster';

import {
  apply,
  clientMain as client,
  describeRoot,
  installManager,
  isReady,
  managerNamespace,
  repo,
  startCluster,
  until,
  workstationRunner,
} from './helpers/tp-cluster.js';

const loadgen = path.join(repo, 'tools/loadgen');
const echoHost = 'tcp-echo.default';
const echoPort = '7000';

interface FlowsResult {
  counts: Record<string, number>;
  failures: { flow: number; outcome: string; error?: string; stage?: string }[];
  seconds: number;
  longestFlowSeconds: number;
}

interface ConnectsResult {
  ok: number;
  failed: number;
  failures: { connection: number; error: string }[];
  p50: number;
  p99: number;
}

describeRoot('the outbound path under load (python sockets through the VIF)', () => {
  jest.setTimeout(600_000);
  let cluster: DevCluster;
  let core: CoreV1Api;
  let work: string;
  let runDir: string;

  const ws = workstationRunner(
    () => cluster,
    () => runDir,
  );
  const tp = (...args: string[]) => ws(['node', client, ...args], 90_000);
  const python = async <T>(script: string, args: readonly string[], timeoutMs: number): Promise<T> => {
    const r = await ws(['python3', path.join(loadgen, script), ...args], timeoutMs);
    if (r.code !== 0) throw new Error(`${script} exited ${r.code}: ${r.err}`);
    return JSON.parse(r.out) as T;
  };
  /** `n` concurrent flows of minMiB..maxMiB each way to the echo Service. */
  const flows = (n: number, minMiB: number, maxMiB: number, timeoutMs = 300_000) =>
    python<FlowsResult>(
      'tcp_flows.py',
      [echoHost, echoPort, String(n), String(minMiB), String(maxMiB)],
      timeoutMs,
    );
  /** `total` short connections (connect, one request line echoed, close), `concurrency` at a time. */
  const connects = (total: number, concurrency: number) =>
    python<ConnectsResult>(
      'tcp_connects.py',
      [echoHost, echoPort, String(total), String(concurrency)],
      300_000,
    );
  const readyPods = async (ns: string, selector: string) =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(isReady);

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'ld-e2e-'));
    runDir = path.join(work, 'run');
    cluster = await startCluster('ld', { images: [path.join(loadgen, 'images.json')] });
    ({ core } = await installManager(cluster));
    await apply(cluster, readFileSync(path.join(loadgen, 'tcp-echo.yaml'), 'utf8'));
    await until(
      'a ready traffic-manager',
      async () => (await readyPods(managerNamespace, 'app.kubernetes.io/name=traffic-manager'))[0],
      90_000,
    );
    await until(
      'two ready tcp-echo pods',
      async () => ((await readyPods('default', 'app=tcp-echo')).length === 2 ? true : undefined),
      90_000,
    );
    const c = await tp('connect', '--kubeconfig', cluster.kubeconfig);
    if (c.code !== 0) throw new Error(`connect failed: ${c.out}${c.err}`);
  }, 180_000);

  afterAll(async () => {
    if (cluster) await tp('quit').catch(() => undefined);
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('1: 256 concurrent flows of 2-8 MiB each come back intact, none refused, 10 runs in a row', async () => {
    for (let run = 1; run <= 10; run++) {
      const r = await flows(256, 2, 8);
      expect({ run, counts: r.counts, failures: r.failures.slice(0, 5) }).toEqual({
        run,
        counts: { ok: 256 },
        failures: [],
      });
    }
  });

  it('2: 2,000 short connections in a row, then 2,000 with 200 at a time, all succeed', async () => {
    const sequential = await connects(2000, 1);
    expect({ failed: sequential.failed, failures: sequential.failures }).toEqual({ failed: 0, failures: [] });
    expect(sequential.ok).toBe(2000);
    const concurrent = await connects(2000, 200);
    expect({ failed: concurrent.failed, failures: concurrent.failures }).toEqual({ failed: 0, failures: [] });
    expect(concurrent.ok).toBe(2000);
  });

  it('3: the traffic-manager pod deleted under 64 bulk flows: each flow completes intact or fails, none corrupt or hung; new flows work once a new manager is ready', async () => {
    const [old] = await readyPods(managerNamespace, 'app.kubernetes.io/name=traffic-manager');
    const oldName = old?.metadata?.name ?? '';
    expect(oldName).not.toBe('');
    const running = flows(64, 16, 32, 180_000);
    // Delete it while the flows are moving bytes (they take several seconds).
    await new Promise((r) => setTimeout(r, 1500));
    await core.deleteNamespacedPod({ namespace: managerNamespace, name: oldName });
    const r = await running;
    expect(r.counts['corrupt'] ?? 0).toBe(0);
    expect((r.counts['ok'] ?? 0) + (r.counts['error'] ?? 0) + (r.counts['refused'] ?? 0)).toBe(64);
    // A hang would show as a 60 s socket timeout; every flow ends well before that.
    expect(r.failures.filter((f) => /timed out/.test(f.error ?? ''))).toEqual([]);
    expect(r.longestFlowSeconds).toBeLessThan(60);

    await until(
      'a new ready traffic-manager',
      async () =>
        (await readyPods(managerNamespace, 'app.kubernetes.io/name=traffic-manager')).find(
          (p) => p.metadata?.name !== oldName,
        ),
      90_000,
    );
    // As soon as the new manager is ready, new flows succeed (the client's session comes back by itself).
    const since = Date.now();
    await until(
      'short connections through the new manager',
      async () => ((await connects(20, 5)).ok === 20 ? true : undefined),
      30_000,
    );
    const recoveredMs = Date.now() - since;
    const after = await connects(200, 20);
    expect({ failed: after.failed, failures: after.failures }).toEqual({ failed: 0, failures: [] });
    const bulk = await flows(32, 1, 2);
    expect(bulk.counts).toEqual({ ok: 32 });
    console.log(`new flows succeeded ${recoveredMs} ms after the new traffic-manager was ready`);
  });
});
