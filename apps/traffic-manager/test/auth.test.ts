// Caller authentication on the real Manager gRPC server (127.0.0.1) with a fake AuthApi standing in for
// TokenReview / SubjectAccessReview (e2e/test/auth.test.ts runs the same against devcluster).
import {
  Metadata,
  credentials,
  status,
  type CallOptions,
  type Interceptor,
  InterceptingCall,
  type ServiceError,
} from '@grpc/grpc-js';

import { ManagerClient, manager, type common } from '@telepresence/rpc';
import { ConnId, openTunnel } from '@telepresence/tunnel';

import type { AuthApi, PodFacts, ResourceAttributes } from '../src/auth/auth-api.js';
import { AGENT_AUDIENCE, type AuthMode } from '../src/auth/auth-config.js';
import { POD_NAME_EXTRA, POD_UID_EXTRA, type Identity } from '../src/auth/identity.js';
import { startHarness, type Harness } from './harness.js';

const API_AUD = 'https://kubernetes.default.svc.cluster.local';
const webSpec = manager.InterceptSpec.fromPartial({ workload: 'web', namespace: 'default' });
const clientInfo = { name: 'ws', namespace: 'default', installId: 'test', version: 'test' };

/** TokenReview, SubjectAccessReview and pods from tables the tests change. */
class FakeAuthApi implements AuthApi {
  readonly tokens = new Map<string, Identity>();
  readonly grants = new Set<string>();
  readonly pods = new Map<string, PodFacts>();
  tokenReviews = 0;

  static grant(user: string, a: ResourceAttributes): string {
    return `${user} ${a.verb} ${a.group}/${a.resource}/${a.subresource ?? ''} ${a.namespace} ${a.name ?? ''}`;
  }

  user(token: string, username: string): void {
    this.tokens.set(token, { username, uid: `uid-${username}`, groups: [], extra: {}, audiences: [API_AUD] });
  }

  agent(token: string, namespace: string, pod: string, podUid: string): void {
    this.tokens.set(token, {
      username: `system:serviceaccount:${namespace}:default`,
      uid: 'uid-sa',
      groups: ['system:serviceaccounts'],
      extra: { [POD_NAME_EXTRA]: [pod], [POD_UID_EXTRA]: [podUid] },
      audiences: [AGENT_AUDIENCE],
    });
  }

  async reviewToken(token: string, audiences: readonly string[]) {
    this.tokenReviews++;
    const identity = this.tokens.get(token);
    if (identity === undefined) return { authenticated: false as const, error: 'token not found' };
    if (!identity.audiences.some((a) => audiences.includes(a)))
      return { authenticated: false as const, error: 'wrong audience' };
    return { authenticated: true as const, identity };
  }

  async reviewAccess(identity: Identity, a: ResourceAttributes) {
    const wildcard = FakeAuthApi.grant(identity.username, { ...a, name: '' });
    const allowed = this.grants.has(FakeAuthApi.grant(identity.username, a)) || this.grants.has(wildcard);
    return { allowed, reason: '' };
  }

  async pod(namespace: string, name: string) {
    return this.pods.get(`${namespace}/${name}`);
  }
}

const connect: ResourceAttributes = {
  verb: 'create',
  group: '',
  resource: 'pods',
  subresource: 'portforward',
  namespace: 'ambassador',
};
const interceptWeb: ResourceAttributes = {
  verb: 'update',
  group: 'apps',
  resource: 'deployments',
  namespace: 'default',
  name: 'web',
};

function bearer(token: string): Interceptor {
  return (options, next) =>
    new InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        metadata.set('authorization', `Bearer ${token}`);
        nextStart(metadata, listener);
      },
    });
}

function call<Req, Res>(
  client: ManagerClient,
  method: (
    req: Req,
    metadata: Metadata,
    options: Partial<CallOptions>,
    cb: (err: ServiceError | null, res: Res) => void,
  ) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new Metadata(), {}, (err: ServiceError | null, res: Res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

const failure = (p: Promise<unknown>): Promise<ServiceError> =>
  p.then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: ServiceError) => e,
  );

describe('Manager caller authentication', () => {
  let h: Harness;
  let api: FakeAuthApi;
  const clients: ManagerClient[] = [];
  const as = (token?: string): ManagerClient => {
    const c = new ManagerClient(
      `127.0.0.1:${h.manager.grpcPort}`,
      credentials.createInsecure(),
      token === undefined ? {} : { interceptors: [bearer(token)] },
    );
    clients.push(c);
    return c;
  };
  const arrive = async (c: ManagerClient): Promise<common.SessionInfo> =>
    (await call(c, c.arriveAsClient, { client: clientInfo })).session!;
  const metrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${h.manager.metricsPort!}/metrics`)).text();

  async function start(mode: AuthMode): Promise<void> {
    api = new FakeAuthApi();
    api.user('alice-token', 'alice');
    api.user('bob-token', 'bob');
    api.user('nobody-token', 'nobody');
    api.grants.add(FakeAuthApi.grant('alice', connect));
    api.grants.add(FakeAuthApi.grant('alice', interceptWeb));
    api.grants.add(FakeAuthApi.grant('bob', connect));
    h = await startHarness(
      { AGENT_SESSION_TTL: '2s' },
      { auth: { api, config: { mode, reviewTtlMs: 200, apiAudiences: [API_AUD], tlsPort: 0 } } },
    );
  }
  async function stop(): Promise<void> {
    clients.splice(0).forEach((c) => c.close());
    await h.close();
  }

  describe('enforcing', () => {
    beforeAll(() => start('enforcing'));
    afterAll(stop);

    it('answers Version to anyone', async () => {
      const v = await call(as(), as().version, {});
      expect(v.info?.name).toBe('traffic-manager');
    });

    it('refuses a caller without a token or with a token the API server rejects (UNAUTHENTICATED)', async () => {
      const none = as();
      const e1 = await failure(call(none, none.arriveAsClient, { client: clientInfo }));
      expect(e1.code).toBe(status.UNAUTHENTICATED);
      expect(e1.details).toMatch(/no bearer token/);
      const bad = as('forged');
      const e2 = await failure(call(bad, bad.arriveAsClient, { client: clientInfo }));
      expect(e2.code).toBe(status.UNAUTHENTICATED);
      expect(e2.details).toMatch(/did not accept the caller's token.*token not found/);
      expect(await metrics()).toMatch(
        /traffic_manager_sessions_refused_total\{kind="client",enforced="true"\} [2-9]/,
      );
    });

    it('refuses a user without the connect permission, naming it (PERMISSION_DENIED)', async () => {
      const nobody = as('nobody-token');
      const e = await failure(call(nobody, nobody.arriveAsClient, { client: clientInfo }));
      expect(e.code).toBe(status.PERMISSION_DENIED);
      expect(e.details).toContain(
        'user "nobody" may not create pods/portforward in namespace "ambassador" (needed to connect to the traffic-manager)',
      );
    });

    it("refuses a no-rights caller's cluster info and tunnels, even with a real session id", async () => {
      const alice = as('alice-token');
      const session = await arrive(alice);
      for (const c of [as(), as('nobody-token')]) {
        const stream = c.watchClusterInfo({ session });
        const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
        expect([status.UNAUTHENTICATED, status.PERMISSION_DENIED]).toContain(err.code);
        const t = await openTunnel(c, {
          id: ConnId.of('tcp', { ip: '198.18.0.1', port: 40000 }, { ip: '127.0.0.1', port: 9 }),
          sessionId: session.sessionId,
          dialTimeoutMs: 1000,
        });
        t.resume();
        const dialed = await t.dialed;
        expect(dialed).toMatchObject({ ok: false, reason: 'permission-denied' });
      }
    });

    it("refuses a second user on the first user's session: remain, intercepts, leave", async () => {
      const alice = as('alice-token');
      const bob = as('bob-token');
      const session = await arrive(alice);
      for (const attempt of [
        () => call(bob, bob.remain, { session }),
        () => call(bob, bob.createIntercept, { session, spec: webSpec }),
        () => call(bob, bob.removeIntercept, { session, name: 'web' }),
        () => call(bob, bob.depart, { session }),
      ]) {
        const e = await failure(attempt());
        expect(e.code).toBe(status.PERMISSION_DENIED);
        expect(e.details).toContain(
          `session "${session.sessionId}" belongs to another identity than user "bob"`,
        );
      }
      await call(alice, alice.remain, { session }); // still alice's, still alive
    });

    it('needs update on the workload to intercept it', async () => {
      const bob = as('bob-token');
      const session = await arrive(bob);
      const e = await failure(call(bob, bob.createIntercept, { session, spec: webSpec }));
      expect(e.code).toBe(status.PERMISSION_DENIED);
      expect(e.details).toContain('may not update deployments.apps "web" in namespace "default"');
    });

    it('ends a session at its next Remain once its owner lost the connect permission', async () => {
      const alice = as('alice-token');
      const session = await arrive(alice);
      api.grants.delete(FakeAuthApi.grant('alice', connect));
      await new Promise((r) => setTimeout(r, 250)); // past the review cache TTL (at most one keep-alive)
      try {
        const nowRefused = await failure(call(alice, alice.arriveAsClient, { client: clientInfo }));
        expect(nowRefused.code).toBe(status.PERMISSION_DENIED);
        const e = await failure(call(alice, alice.remain, { session }));
        expect(e.code).toBe(status.PERMISSION_DENIED);
        expect(h.manager.sessions.find(session.sessionId)).toBeUndefined();
      } finally {
        api.grants.add(FakeAuthApi.grant('alice', connect));
      }
    });

    it('admits an agent only with its own pod-bound token, for a pod that runs the agent and exists', async () => {
      const agentInfo = (podName: string) => ({
        agent: {
          name: 'web',
          namespace: 'default',
          podName,
          podIp: Buffer.from([198, 18, 1, 5]),
          version: 't',
        },
      });
      api.agent('web-1-token', 'default', 'web-1', 'uid-1');
      api.pods.set('default/web-1', { uid: 'uid-1', containerNames: ['app', 'traffic-agent'] });
      api.pods.set('default/plain-1', { uid: 'uid-2', containerNames: ['app'] });
      api.agent('plain-1-token', 'default', 'plain-1', 'uid-2');
      const agent = as('web-1-token');

      const wrongPod = await failure(call(agent, agent.arriveAsAgent, agentInfo('web-2') as never));
      expect(wrongPod.details).toContain('bound to pod default/web-1, not to pod default/web-2');
      const plain = as('plain-1-token');
      const notInjected = await failure(call(plain, plain.arriveAsAgent, agentInfo('plain-1') as never));
      expect(notInjected.details).toContain('runs no traffic-agent container');
      const alice = as('alice-token');
      const userAsAgent = await failure(call(alice, alice.arriveAsAgent, agentInfo('web-1') as never));
      expect(userAsAgent.details).toContain(`audience "${AGENT_AUDIENCE}"`);

      const session = (await call(agent, agent.arriveAsAgent, agentInfo('web-1') as never)).session!;
      const stolen = await failure(call(alice, alice.remain, { session }));
      expect(stolen.code).toBe(status.PERMISSION_DENIED);

      // The pod is deleted: its token stops working (TokenReview), so the agent cannot go on.
      api.tokens.delete('web-1-token');
      api.pods.delete('default/web-1');
      await new Promise((r) => setTimeout(r, 250)); // past the review cache TTL
      const gone = await failure(call(agent, agent.remain, { session }));
      expect(gone.code).toBe(status.UNAUTHENTICATED);
    });

    it('reviews a token once per cache period, not per call', async () => {
      const alice = as('alice-token');
      const session = await arrive(alice);
      const before = api.tokenReviews;
      for (let i = 0; i < 20; i++) await call(alice, alice.remain, { session });
      expect(api.tokenReviews - before).toBeLessThanOrEqual(1);
      expect(await metrics()).toMatch(/traffic_manager_auth_reviews_total\{kind="token",result="ok"\} [1-9]/);
    });
  });

  describe('permissive', () => {
    beforeAll(() => start('permissive'));
    afterAll(stop);

    it('lets refused calls through, and logs and counts them', async () => {
      const none = as();
      const session = await arrive(none);
      const stream = none.watchClusterInfo({ session });
      await new Promise<void>((resolve, reject) => {
        stream.on('data', () => resolve());
        stream.on('error', reject);
      });
      stream.cancel();
      const m = await metrics();
      expect(m).toMatch(/traffic_manager_sessions_refused_total\{kind="client",enforced="false"\} [1-9]/);
      expect(m).toMatch(
        /traffic_manager_auth_refusals_total\{rpc="watchClusterInfo",code="UNAUTHENTICATED",enforced="false"\} [1-9]/,
      );
      expect(h.logs.some((l) => l['msg'] === 'call would be refused (permissive: allowed)')).toBe(true);
    });
  });

  describe('disabled', () => {
    beforeAll(() => start('disabled'));
    afterAll(stop);

    it('makes no reviews and lets every caller in', async () => {
      const none = as();
      await arrive(none);
      expect(api.tokenReviews).toBe(0);
    });
  });
});
