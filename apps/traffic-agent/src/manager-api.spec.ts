import type { ManagerClient } from '@telepresence/rpc';

import { grpcManagerApi } from './manager-api.js';

/** A stand-in grpc-js client that answers ArriveAsAgent with a session named after itself. */
function fakeClient(name: string, log: string[]): ManagerClient {
  return {
    arriveAsAgent(_req: unknown, _md: unknown, _opts: unknown, cb: (e: null, res: unknown) => void) {
      log.push(`arrive via ${name}`);
      cb(null, { session: { sessionId: name, clusterId: '' } });
      return { cancel: () => undefined };
    },
    close: () => log.push(`close ${name}`),
  } as unknown as ManagerClient;
}

const agent = { name: 'echo', namespace: 'default', podName: 'echo-1', podIp: Buffer.alloc(4), version: 't' };

describe('grpcManagerApi', () => {
  it('calls through the source current client; renew() closes it and later calls use the next', async () => {
    const log: string[] = [];
    let n = 0;
    let client = fakeClient(`c${n}`, log);
    const api = grpcManagerApi(
      {
        current: () => client,
        renew: () => {
          client.close();
          client = fakeClient(`c${++n}`, log);
        },
      },
      {
        tunnels: {
          tunnel: () => {
            throw new Error('no tunnels here');
          },
        },
      },
    );
    const signal = new AbortController().signal;
    expect((await api.arrive(agent, signal)).sessionId).toBe('c0');
    api.renew!();
    expect((await api.arrive(agent, signal)).sessionId).toBe('c1');
    expect(log).toEqual(['arrive via c0', 'close c0', 'arrive via c1']);
  });

  it('takes a plain client too, with nothing to renew', async () => {
    const log: string[] = [];
    const api = grpcManagerApi(fakeClient('only', log));
    expect(api.renew).toBeUndefined();
    expect((await api.arrive(agent, new AbortController().signal)).sessionId).toBe('only');
  });
});
