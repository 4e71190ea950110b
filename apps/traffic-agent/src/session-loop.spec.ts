import { status } from '@grpc/grpc-js';

import type { common, manager } from '@telepresence/rpc';
import { memoryLogger } from '@telepresence/tunnel';

import { fromTunnelLogger } from './log.js';
import type { AgentManagerApi } from './manager-api.js';
import { runSessionLoop } from './session-loop.js';

/** A fake manager: arrivals may fail, Remain may fail, everything is recorded. */
function fakeApi(script: { arriveFailures?: number; remainFailsOn?: number[] } = {}) {
  const calls: string[] = [];
  let arrivals = 0;
  let remains = 0;
  const api: AgentManagerApi = {
    arrive(agent: manager.AgentInfo) {
      arrivals++;
      calls.push(`arrive ${agent.podName}`);
      if (arrivals <= (script.arriveFailures ?? 0))
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: status.UNAVAILABLE }));
      return Promise.resolve({ sessionId: `agent:${arrivals}`, clusterId: '' });
    },
    remain(session: common.SessionInfo) {
      remains++;
      calls.push(`remain ${session.sessionId}`);
      if (script.remainFailsOn?.includes(remains))
        return Promise.reject(Object.assign(new Error('session expired'), { code: status.NOT_FOUND }));
      return Promise.resolve();
    },
    depart(session: common.SessionInfo) {
      calls.push(`depart ${session.sessionId}`);
      return Promise.resolve();
    },
    watchDial: () => never(),
    watchLookupDns: () => never(),
    watchIntercepts: () => never(),
    answerDns: () => Promise.resolve(),
    renew() {
      calls.push('renew');
    },
    tunnels: {
      tunnel: () => {
        throw new Error('no tunnels in this fake');
      },
    },
  };
  return { api, calls };
}

function never<T>(): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<T>>(() => {}) }) };
}

const agent: manager.AgentInfo = {
  name: 'echo',
  namespace: 'default',
  podName: 'echo-1',
  podIp: Buffer.from([198, 18, 1, 5]),
  version: 't',
};
const fast = { initialMs: 5, maxMs: 20, multiplier: 2, jitter: 0 };

async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('runSessionLoop', () => {
  it('retries arrival with backoff, keeps the session alive, departs on stop', async () => {
    const { api, calls } = fakeApi({ arriveFailures: 2 });
    const states: string[] = [];
    const stop = new AbortController();
    const sessions: string[] = [];
    const done = runSessionLoop(
      {
        api,
        agent,
        log: fromTunnelLogger(memoryLogger()),
        remainIntervalMs: 10,
        backoff: fast,
        onSession: (s, signal) => {
          sessions.push(s.sessionId);
          return new Promise((r) => signal.addEventListener('abort', () => r()));
        },
        onState: (s) => states.push(s),
      },
      stop.signal,
    );
    await until(() => calls.filter((c) => c.startsWith('remain')).length >= 3);
    stop.abort();
    await done;
    expect(sessions).toEqual(['agent:3']);
    // A failed arrival renews the channel (a new pod of a headless Service has a new address).
    expect(calls.slice(0, 5)).toEqual(['arrive echo-1', 'renew', 'arrive echo-1', 'renew', 'arrive echo-1']);
    expect(calls.filter((c) => c === 'renew')).toHaveLength(2);
    expect(calls.at(-1)).toBe('depart agent:3');
    expect(states).toEqual(['arriving', 'arriving', 'arriving', 'active', 'stopped']);
  });

  it('arrives again when Remain says the session is gone, and stops the old session tasks first', async () => {
    const { api, calls } = fakeApi({ remainFailsOn: [2] });
    const stop = new AbortController();
    const events: string[] = [];
    const done = runSessionLoop(
      {
        api,
        agent,
        log: fromTunnelLogger(memoryLogger()),
        remainIntervalMs: 10,
        backoff: fast,
        onSession: (s, signal) => {
          events.push(`start ${s.sessionId}`);
          return new Promise((r) =>
            signal.addEventListener('abort', () => {
              events.push(`stop ${s.sessionId}`);
              r();
            }),
          );
        },
      },
      stop.signal,
    );
    await until(() => events.includes('start agent:2'));
    stop.abort();
    await done;
    expect(events).toEqual(['start agent:1', 'stop agent:1', 'start agent:2', 'stop agent:2']);
    expect(calls).toContain('depart agent:2');
    expect(calls).not.toContain('depart agent:1');
  });

  it('ends a session whose tasks fail and arrives again', async () => {
    const { api } = fakeApi();
    const stop = new AbortController();
    let n = 0;
    const done = runSessionLoop(
      {
        api,
        agent,
        log: fromTunnelLogger(memoryLogger()),
        remainIntervalMs: 1000,
        backoff: fast,
        onSession: () => (++n < 3 ? Promise.reject(new Error('stream broke')) : new Promise(() => {})),
      },
      stop.signal,
    );
    await until(() => n === 3);
    stop.abort();
    await Promise.race([done, new Promise((r) => setTimeout(r, 100))]);
    expect(n).toBe(3);
  });
});
