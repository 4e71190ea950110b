// auth: what caller authentication costs a new session. Two managers in this process, one with
// auth.mode disabled and one enforcing with real TokenReviews and SubjectAccessReviews against a
// devcluster API server (HTTPS; the manager's reviews as the admin), side by side in one run:
// ArriveAsClient with a token never seen (one TokenReview + one SubjectAccessReview), with a token seen
// within the review TTL (no round trip), and Remain. Needs root (skipped otherwise).
import { performance } from 'node:perf_hooks';

import { InterceptingCall, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';

import { startDevCluster } from '@telepresence/devcluster';
import { ManagerClient, type common } from '@telepresence/rpc';
import { FakeClusterApi, fakeNode } from '@telepresence/traffic-manager/testing';
import {
  kubeAuthApi,
  parseConfig,
  startTrafficManager,
  subnetMath,
  type AuthMode,
  type RunningTrafficManager,
} from '@telepresence/traffic-manager';

import { fmt, loadavg, median, printTable, type BenchSuite } from './report.js';

const RUNS = 40;
const clientInfo = { name: 'bench', namespace: 'default', installId: 'b', version: 'b' };

function withToken(address: string, token: () => string): ManagerClient {
  return new ManagerClient(address, credentials.createInsecure(), {
    interceptors: [
      (o, next) =>
        new InterceptingCall(next(o), {
          start(md, listener, nextStart) {
            md.set('authorization', `Bearer ${token()}`);
            nextStart(md, listener);
          },
        }),
    ],
  });
}

function unary<Req, Res>(
  c: ManagerClient,
  method: (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(c, req, new Metadata(), {}, (e: ServiceError | null, r: Res) => (e ? reject(e) : resolve(r))),
  );
}

async function manager(kc: KubeConfig, mode: AuthMode): Promise<RunningTrafficManager> {
  const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
  api.nodes.set(fakeNode('node-1', '198.18.1.0/24'));
  return startTrafficManager(
    {
      config: parseConfig(
        { POD_IP: '198.18.1.10', POD_NAMESPACE: 'ambassador', SERVER_HOST: '127.0.0.1', SERVER_PORT: '0' },
        subnetMath,
      ),
      log: pino({ level: 'silent' }),
      api,
      subnets: subnetMath,
      resolvConf: { nameservers: [], search: [], ndots: 5 },
      version: 'bench',
      defaultMetrics: false,
      clusterId: 'bench',
      auth: { api: kubeAuthApi(kc), config: { mode, reviewTtlMs: 5000, apiAudiences: [], tlsPort: 0 } },
    },
    { metricsEnabled: false },
  );
}

const suite: BenchSuite = {
  name: 'auth',
  async run() {
    if (process.getuid?.() !== 0) {
      console.log('skipped: devcluster needs root');
      return;
    }
    const cluster = await startDevCluster({ name: `ba${process.pid % 10000}`, nodes: 1 });
    const managers: RunningTrafficManager[] = [];
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.hostKubeconfig);
      const core = kc.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: 'ambassador' } } });
      await core.createNamespacedServiceAccount({
        namespace: 'ambassador',
        body: { metadata: { name: 'dev' } },
      });
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace: 'ambassador',
        body: {
          metadata: { name: 'connect' },
          rules: [{ apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] }],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: 'ambassador',
        body: {
          metadata: { name: 'connect' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'connect' },
          subjects: [{ kind: 'ServiceAccount', name: 'dev', namespace: 'ambassador' }],
        },
      });
      const newToken = async (): Promise<string> =>
        (
          await core.createNamespacedServiceAccountToken({
            name: 'dev',
            namespace: 'ambassador',
            body: { spec: { audiences: ['telepresence-manager'], expirationSeconds: 600 } },
          })
        ).status?.token ?? '';

      const disabled = await manager(kc, 'disabled');
      const enforcing = await manager(kc, 'enforcing');
      managers.push(disabled, enforcing);
      const tokens = await Promise.all(Array.from({ length: RUNS + 2 }, newToken));
      let current = '';
      const clientOf = (m: RunningTrafficManager) => withToken(`127.0.0.1:${m.grpcPort}`, () => current);
      const rows: string[][] = [];
      const measure = async (
        m: RunningTrafficManager,
        what: string,
        tokenFor: (i: number) => string,
      ): Promise<number> => {
        const c = clientOf(m);
        const arrive: number[] = [];
        const remain: number[] = [];
        try {
          current = tokens[RUNS + 1]!;
          await unary(c, c.arriveAsClient, { client: clientInfo }); // connection and warm-up
          for (let i = 0; i < RUNS; i++) {
            current = tokenFor(i);
            const t0 = performance.now();
            const r = await unary(c, c.arriveAsClient, { client: clientInfo });
            arrive.push(performance.now() - t0);
            const session = (r as { session: common.SessionInfo }).session;
            const t1 = performance.now();
            await unary(c, c.remain, { session });
            remain.push(performance.now() - t1);
            await unary(c, c.depart, { session });
          }
        } finally {
          c.close();
        }
        rows.push([what, fmt(median(arrive)), fmt(median(remain)), String(RUNS)]);
        return median(arrive);
      };
      // disabled first and last: the first rounds in a process also warm up gRPC and the JIT.
      const before = await measure(disabled, 'disabled', (i) => tokens[i]!);
      const cold = await measure(
        enforcing,
        'enforcing, a token never seen (TokenReview + SAR)',
        (i) => tokens[i]!,
      );
      const warm = await measure(
        enforcing,
        'enforcing, a token seen within the TTL (cached)',
        () => tokens[0]!,
      );
      const after = await measure(disabled, 'disabled (again)', (i) => tokens[i]!);
      const base = Math.min(before, after);
      rows.push(['ratio cold / disabled', fmt(cold / base), '', '']);
      rows.push(['ratio cached / disabled', fmt(warm / base), '', '']);
      printTable(
        `session creation with caller authentication (median ms; devcluster API over HTTPS; load ${loadavg()})`,
        ['auth.mode', 'ArriveAsClient', 'Remain', 'runs'],
        rows,
      );
    } finally {
      for (const m of managers) await m.close();
      await cluster.down();
    }
  },
};

export default suite;
