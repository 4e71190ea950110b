// Everyday kubectl commands behave as on a real cluster (needs root): image entrypoint/cmd semantics,
// logs --tail/--previous/--timestamps/--since, apiserver defaults,
// watch order during a scale-up, explain, exec answered with a pointer to `devcluster exec`.
import { jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevCluster, type DevCluster } from '../src/cluster.js';
import { needs } from 'test-requirements';

const here = path.dirname(fileURLToPath(import.meta.url));
const kubectlBin = path.resolve(here, '../../..', 'tools/bin/kubectl');
const describeRoot = needs('root').describe;

let cluster: DevCluster;
const kubectl = (args: string[], input = '') =>
  new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
    const child = execFile(
      kubectlBin,
      ['--kubeconfig', cluster.hostKubeconfig, ...args],
      (err, stdout, stderr) =>
        resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
    );
    child.stdin?.end(input);
  });

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const field = async (pod: string, jsonpath: string) =>
  (await kubectl(['get', 'pod', pod, '-o', `jsonpath=${jsonpath}`])).stdout;

describeRoot('kubectl on devcluster behaves as on a real cluster', () => {
  jest.setTimeout(120_000);

  beforeAll(async () => {
    cluster = await startDevCluster({ name: `k${process.pid % 100000}`, nodes: 1 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.down();
  }, 60_000);

  it('kubectl run --image=busybox -- sleep 3600 runs sleep (busybox has no ENTRYPOINT; CMD sh)', async () => {
    expect(
      (await kubectl(['run', 'bb', '--image=busybox', '--restart=Never', '--', 'sleep', '3600'])).code,
    ).toBe(0);
    await waitFor('bb running', async () =>
      (await field('bb', '{.status.phase}')) === 'Running' ? true : undefined,
    );
    // Without a command busybox runs sh, which exits at once: a restarting container, as on a real cluster.
    await kubectl(['run', 'bare', '--image=busybox']);
    await waitFor('bare restarting', async () =>
      Number(await field('bare', '{.status.containerStatuses[0].restartCount}')) > 0 ? true : undefined,
    );
  });

  it('logs --tail, --previous, --timestamps, --since and --since-time', async () => {
    const script = 'for i in 1 2 3 4 5; do echo run$RANDOM-line$i; done; sleep 1; exit 3';
    await kubectl(['run', 'counter', '--image=busybox', '--', 'sh', '-c', script]);
    const noPrevious = await kubectl(['logs', 'bb', '-p']);
    expect(noPrevious.stderr.trim()).toBe(
      'Error from server (BadRequest): previous terminated container "bb" in pod "bb" not found',
    );
    await waitFor('a restart', async () =>
      Number(await field('counter', '{.status.containerStatuses[0].restartCount}')) > 0 ? true : undefined,
    );
    const tail = (await kubectl(['logs', 'counter', '--tail=2'])).stdout.trim().split('\n');
    expect(tail).toHaveLength(2);
    expect(tail[1]).toMatch(/-line5$/);
    const previous = (await kubectl(['logs', 'counter', '-p'])).stdout.trim().split('\n');
    expect(previous).toHaveLength(5);
    expect(previous[0]).toMatch(/-line1$/);
    const stamped = (await kubectl(['logs', 'counter', '-p', '--timestamps', '--tail=1'])).stdout;
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z run\d*-line5\n$/);
    const printedAt = Date.parse(stamped.split(' ')[0] ?? '');
    expect(Math.abs(Date.now() - printedAt)).toBeLessThan(60_000);
    // The container restarts every second or two, so `-p` may name a newer run between two calls.
    const lastHour = (await kubectl(['logs', 'counter', '-p', '--since=1h'])).stdout.trim().split('\n');
    expect(lastHour).toHaveLength(5);
    expect(lastHour[4]).toMatch(/-line5$/);
    const future = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    expect((await kubectl(['logs', 'counter', '-p', `--since-time=${future}`])).stdout).toBe('');
  });

  it('fills the defaults a real apiserver fills (probes, fieldRef apiVersion)', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'probed' },
      spec: {
        containers: [
          {
            name: 'c',
            image: 'echo',
            readinessProbe: { httpGet: { port: 8080 } },
            env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          },
        ],
      },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(pod))).code).toBe(0);
    const c = JSON.parse(await field('probed', '{.spec.containers[0]}')) as Record<string, any>;
    expect(c['readinessProbe']).toEqual({
      httpGet: { port: 8080, path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(c['env'][0].valueFrom.fieldRef).toEqual({ apiVersion: 'v1', fieldPath: 'metadata.name' });
    expect((await kubectl(['describe', 'pod', 'probed'])).stdout).toMatch(
      /Readiness:\s+http-get http:\/\/:8080\/ delay=0s timeout=1s period=10s #success=1 #failure=3/,
    );
  });

  it('a watch during a scale-up sees Pending, then ContainerCreating, then Running', async () => {
    const watch = spawn(kubectlBin, [
      '--kubeconfig',
      cluster.hostKubeconfig,
      'get',
      'pods',
      '-l',
      'app=scaled',
      '-w',
      '--output-watch-events',
      '--no-headers',
    ]);
    let out = '';
    watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 500));
      await kubectl(['create', 'deployment', 'scaled', '--image=echo', '--replicas=2']);
      const lines = await waitFor('two pods running in the watch', async () => {
        const l = out.trim().split('\n');
        return l.filter((x) => /\sRunning\s/.test(x)).length >= 2 ? l : undefined;
      });
      const byPod = new Map<string, string[]>();
      for (const l of lines) {
        const [event, pod, , status] = l.trim().split(/\s+/);
        byPod.set(pod ?? '', [...(byPod.get(pod ?? '') ?? []), `${event} ${status}`]);
      }
      for (const events of byPod.values()) {
        expect(events[0]).toBe('ADDED Pending');
        const statuses = events.map((e) => e.split(' ')[1]);
        const order = ['Pending', 'ContainerCreating', 'Running'];
        expect(statuses.map((s) => order.indexOf(s ?? ''))).toEqual(
          [...statuses.map((s) => order.indexOf(s ?? ''))].sort((a, b) => a - b),
        );
        expect(statuses).toContain('ContainerCreating');
      }
    } finally {
      watch.kill();
    }
  });

  it('records the events of the scheduler, the kubelet and the deployment controller', async () => {
    const describe = (await kubectl(['describe', 'pod', 'bb'])).stdout;
    const events = describe.slice(describe.indexOf('Events:'));
    const reasons = events
      .split('\n')
      .slice(3)
      .map((l) => l.trim().split(/\s+/)[1])
      .filter(Boolean);
    expect(reasons).toEqual(['Scheduled', 'Pulled', 'Created', 'Started']);
    expect(events).toContain('default-scheduler  Successfully assigned default/bb to node-1');
    const bare = (await kubectl(['describe', 'pod', 'bare'])).stdout;
    expect(bare).toMatch(
      /Warning\s+BackOff\s.*kubelet\s+Back-off restarting failed container bare in pod bare_default/,
    );
    const all = (await kubectl(['get', 'events'])).stdout;
    expect(all).toMatch(
      /Normal\s+ScalingReplicaSet\s+deployment\/scaled\s+Scaled up replica set scaled-\w+ from 0 to 2/,
    );
    await kubectl(['delete', 'pod', 'probed', '--wait=true']);
    expect(
      (await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=probed'])).stdout,
    ).toMatch(/Normal\s+Killing\s+pod\/probed\s+Stopping container c/);
  });

  it('hostNetwork: the pod shares its node network namespace and address', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hostnet' },
      spec: { hostNetwork: true, containers: [{ name: 'c', image: 'echo', args: ['--http', '18080'] }] },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(pod))).code).toBe(0);
    await waitFor('hostnet running', async () =>
      (await field('hostnet', '{.status.phase}')) === 'Running' ? true : undefined,
    );
    const [podIP, hostIP] = (await field('hostnet', '{.status.podIP} {.status.hostIP}')).split(' ');
    expect(podIP).toBe('198.18.1.1');
    expect(hostIP).toBe(podIP);
    const answer = await waitFor('the host-network server', async () => {
      const r = await cluster.exec('pod/default/bb', ['curl', '-s', '-m', '1', `http://${podIP}:18080/`]);
      return r.stdout.startsWith('{') ? (JSON.parse(r.stdout) as { remoteAddress: string }) : undefined;
    });
    expect(answer.remoteAddress).toMatch(/^198\.18\.1\.\d+$/);
    await kubectl(['delete', 'pod', 'hostnet', '--wait=true']);
    // Deleting it leaves the node's namespace alone.
    expect(
      (await cluster.exec('pod/default/bb', ['curl', '-s', '-m', '2', `http://${podIP}:18080/`])).stdout,
    ).toBe('');
    expect((await kubectl(['get', 'nodes'])).stdout).toMatch(/node-1\s+Ready/);
    await kubectl(['run', 'after', '--image=busybox', '--', 'sleep', '3600']);
    await waitFor('a pod after it', async () =>
      (await field('after', '{.status.phase}')) === 'Running' ? true : undefined,
    );
  });

  it('a pod reaches itself through its own Service (hairpin, masqueraded like kube-proxy)', async () => {
    await kubectl(['expose', 'deployment', 'scaled', '--port=80', '--target-port=8080']);
    const ip = (await kubectl(['get', 'svc', 'scaled', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    const pods = (
      await kubectl(['get', 'pods', '-l', 'app=scaled', '-o', 'jsonpath={.items[*].metadata.name}'])
    ).stdout.split(' ');
    for (const pod of pods) {
      // Each pod asks the Service until the DNAT has picked itself at least once.
      const seen = await waitFor(`${pod} reaching itself`, async () => {
        const r = await cluster.exec(`pod/default/${pod}`, ['curl', '-s', '-m', '2', `http://${ip}/`]);
        const a = JSON.parse(r.stdout) as { pod: string; remoteAddress: string };
        return a.pod === pod ? a : undefined;
      });
      expect(seen.remoteAddress).toBe('198.18.1.1'); // the node's address, as kube-proxy's masquerade
    }
  });

  it('a pod that replaces a deleted one gets a new address (round-robin IPAM) and is reachable at once', async () => {
    const ipOf = (pod: string) => field(pod, '{.status.podIP}');
    const running = (pod: string) =>
      waitFor(`${pod} running`, async () =>
        (await field(pod, '{.status.phase}')) === 'Running' ? true : undefined,
      );
    const ask = async (ip: string) => {
      const r = await cluster.exec('pod/default/bb', ['curl', '-s', '-m', '2', `http://${ip}:8080/`]);
      return r.code === 0 ? (JSON.parse(r.stdout) as { pod: string }).pod : undefined;
    };
    await kubectl(['run', 'first', '--image=echo', '--restart=Never']);
    await running('first');
    const ip = await ipOf('first');
    // The router learns first's MAC.
    expect(await waitFor('first answering', () => ask(ip))).toBe('first');
    await kubectl(['delete', 'pod', 'first', '--grace-period=0', '--wait=true']);
    await kubectl(['run', 'second', '--image=echo', '--restart=Never']);
    await running('second');
    // As host-local IPAM: the next address, not the one just released (clients that cached first's
    // address must meet the change). An address is reused only after the node's range wraps around; the
    // router then forgets the old MAC (the new pod's network setup flushes the neighbour entry).
    const second = await ipOf('second');
    expect(second).not.toBe(ip);
    expect(await waitFor('second answering', () => ask(second), 8_000)).toBe('second');
    expect(await ask(ip)).toBeUndefined();
  });

  it('serves the default ServiceCIDR of a 1.33+ apiserver', async () => {
    const r = await kubectl(['get', 'servicecidrs']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^NAME\s+CIDRS\s+AGE\nkubernetes\s+198\.19\.0\.0\/20\s+\S+\n$/);
    const ready = await kubectl([
      'get',
      'servicecidr',
      'kubernetes',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(ready.stdout).toBe('True');
  });

  it('explain knows the fields of the served kinds', async () => {
    const host = await kubectl(['explain', 'pod.spec.hostNetwork']);
    expect(host.stderr).toBe('');
    expect(host.stdout).toMatch(/^KIND:\s+Pod\nVERSION:\s+v1\n\nFIELD: hostNetwork <boolean>/);
    expect(host.stdout).toContain('Host networking requested for this pod.');
    const replicas = await kubectl(['explain', 'deployment.spec.replicas']);
    expect(replicas.stdout).toMatch(
      /GROUP:\s+apps\nKIND:\s+Deployment\nVERSION:\s+v1\n\nFIELD: replicas <integer>/,
    );
    const missing = await kubectl(['explain', 'pod.spec.nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('field "nope" does not exist');
  });

  it('exec names devcluster exec', async () => {
    const r = await kubectl(['exec', 'bb', '--', 'ls']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `devcluster does not implement pods/exec: run the command with "devcluster exec --name ${cluster.name} pod/default/bb -- CMD..."`,
    );
  });
});
