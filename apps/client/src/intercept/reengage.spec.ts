import { EventEmitter } from 'node:events';

import { status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';

import { manager, type ManagerClient, type common } from '@telepresence/rpc';

import { EngagementKeeper, RECREATING } from './reengage.js';

/** A manager that records WatchIntercepts streams and CreateIntercept calls; the test drives both. */
class FakeManager {
  readonly streams: Array<{ session: string; stream: EventEmitter & { cancel(): void } }> = [];
  readonly creates: Array<{ session: string; spec: manager.InterceptSpec }> = [];
  createError: Partial<ServiceError> | undefined;

  readonly client = {
    watchIntercepts: (req: { session: common.SessionInfo }) => {
      const stream = Object.assign(new EventEmitter(), {
        cancel: () => stream.emit('error', { code: status.CANCELLED, message: 'cancelled' }),
      });
      this.streams.push({ session: req.session.sessionId, stream });
      return stream;
    },
    createIntercept: (
      req: { session: common.SessionInfo; spec: manager.InterceptSpec },
      _md: unknown,
      _opts: unknown,
      cb: (e: Partial<ServiceError> | null) => void,
    ) => {
      this.creates.push({ session: req.session.sessionId, spec: req.spec });
      setImmediate(() => cb(this.createError ?? null));
    },
  } as unknown as ManagerClient;

  /** The manager's snapshot on the newest stream. */
  send(intercepts: manager.InterceptInfo[]): void {
    this.streams.at(-1)!.stream.emit('data', manager.InterceptSnapshot.fromPartial({ intercepts }));
  }

  /** The manager goes away: the newest stream fails. */
  drop(): void {
    this.streams.at(-1)!.stream.emit('error', { code: status.UNAVAILABLE, message: 'gone' });
  }
}

const spec = manager.InterceptSpec.fromPartial({
  name: 'echo',
  workload: 'echo',
  namespace: 'default',
  servicePort: 'http',
  localPort: 8080,
});
const active = (s: manager.InterceptSpec, clientSessionId: string) =>
  manager.InterceptInfo.fromPartial({
    spec: s,
    clientSessionId,
    state: manager.InterceptState.INTERCEPT_STATE_ACTIVE,
    podNames: ['echo-1'],
  });
const tick = () => new Promise((r) => setImmediate(r));

describe('EngagementKeeper', () => {
  let fake: FakeManager;
  let session: common.SessionInfo;
  let changes: number;
  let keeper: EngagementKeeper;

  beforeEach(() => {
    fake = new FakeManager();
    session = { sessionId: 's1', clusterId: 'c' };
    changes = 0;
    keeper = new EngagementKeeper({
      client: () => fake.client,
      session: () => session,
      log: pino({ level: 'silent' }),
      onChange: () => changes++,
      retryMs: { initial: 5, max: 20 },
    });
    keeper.start();
  });
  afterEach(() => keeper.stop());

  it('does not re-create an intercept the manager holds on the current session', async () => {
    keeper.remember(spec, 's1');
    fake.send([active(spec, 's1')]);
    await tick();
    expect(fake.creates).toEqual([]);
    expect(keeper.lines()).toEqual([expect.objectContaining({ name: 'echo', state: 'ACTIVE' })]);
  });

  it('after a manager restart (new session, empty snapshot) re-creates the intercept on the new session', async () => {
    keeper.remember(spec, 's1');
    fake.send([active(spec, 's1')]);
    fake.drop();
    // While the manager is gone, status says so.
    expect(keeper.lines()[0]).toMatchObject({ state: RECREATING, message: /unreachable/ });
    session = { sessionId: 's2', clusterId: 'c' };
    keeper.sessionChanged();
    expect(fake.streams.at(-1)!.session).toBe('s2');
    fake.send([]);
    expect(keeper.lines()[0]).toMatchObject({ state: RECREATING, message: /lost it/ });
    await tick();
    expect(fake.creates).toEqual([{ session: 's2', spec }]);
    fake.send([active(spec, 's2')]);
    expect(keeper.lines()[0]).toMatchObject({ state: 'ACTIVE', workload: 'echo', localPort: 8080 });
    await tick();
    expect(fake.creates).toHaveLength(1);
  });

  it('keeps trying while the manager refuses, and says why', async () => {
    keeper.remember(spec, 's1');
    session = { sessionId: 's2', clusterId: 'c' };
    keeper.sessionChanged();
    fake.createError = { code: status.UNAVAILABLE, details: 'the agent injector is not ready yet' };
    fake.send([]);
    await tick();
    await tick();
    expect(keeper.lines()[0]).toMatchObject({
      state: RECREATING,
      message: expect.stringContaining('the agent injector is not ready yet') as string,
    });
    fake.createError = undefined;
    await new Promise((r) => setTimeout(r, 40));
    expect(fake.creates.length).toBeGreaterThanOrEqual(2);
    expect(fake.creates.at(-1)).toEqual({ session: 's2', spec });
  });

  it('does not re-create what the user left', async () => {
    keeper.remember(spec, 's1');
    keeper.forget('echo');
    session = { sessionId: 's2', clusterId: 'c' };
    keeper.sessionChanged();
    fake.send([]);
    await tick();
    expect(fake.creates).toEqual([]);
    expect(keeper.lines()).toEqual([]);
  });

  it('reports a change of the intercept set (for the DNS flush), not a repeated snapshot', () => {
    fake.send([]);
    const base = changes;
    fake.send([active(spec, 's1')]);
    fake.send([active(spec, 's1')]);
    expect(changes).toBe(base + 1);
    fake.send([]);
    expect(changes).toBe(base + 2);
  });

  it('watches again after the stream fails, with the current session', async () => {
    fake.drop();
    session = { sessionId: 's3', clusterId: 'c' };
    await new Promise((r) => setTimeout(r, 30));
    expect(fake.streams.at(-1)!.session).toBe('s3');
  });
});
