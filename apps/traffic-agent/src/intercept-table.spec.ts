import { manager } from '@telepresence/rpc';

import type { InterceptPort } from './config.js';
import { InterceptTable } from './intercept-table.js';

const port = (name: string, containerPort: number, agentPort: number): InterceptPort => ({
  serviceName: 'echo',
  servicePortName: name,
  servicePort: containerPort,
  targetPortName: name,
  containerPort,
  agentPort,
  redirect: false,
});

const info = (
  name: string,
  servicePort: string,
  opts: { client?: string; localOnly?: boolean; state?: manager.InterceptState } = {},
) =>
  manager.InterceptInfo.fromPartial({
    id: `${opts.client ?? 'c1'}:${name}`,
    clientSessionId: opts.client ?? 'c1',
    state: opts.state ?? manager.InterceptState.INTERCEPT_STATE_ACTIVE,
    spec: {
      name,
      workload: 'echo',
      namespace: 'default',
      servicePort,
      localPort: 8080,
      localOnly: opts.localOnly ?? false,
    },
  });

describe('InterceptTable', () => {
  const ports = [port('http', 8080, 9900), port('tcp', 9000, 9901)];

  it('maps active intercepts to the agent port of the named service port', () => {
    const t = new InterceptTable(ports);
    t.update([info('a', 'http')]);
    expect(t.activeFor(9900)).toEqual({ id: 'c1:a', name: 'a', clientSessionId: 'c1', localPort: 8080 });
    expect(t.activeFor(9901)).toBeUndefined();
  });

  it('ignores local-only, waiting and unknown-port intercepts', () => {
    const t = new InterceptTable(ports);
    t.update([
      info('a', 'http', { localOnly: true }),
      info('b', 'tcp', { state: manager.InterceptState.INTERCEPT_STATE_WAITING }),
      info('c', 'grpc'),
    ]);
    expect(t.size).toBe(0);
  });

  it('gives a port to the first intercept in the snapshot and forgets all on clear', () => {
    const t = new InterceptTable(ports);
    let changes = 0;
    t.onChange(() => changes++);
    t.update([info('a', '9000', { client: 'c1' }), info('b', 'tcp', { client: 'c2' })]);
    expect(t.activeFor(9901)?.clientSessionId).toBe('c1');
    t.clear();
    expect(t.activeFor(9901)).toBeUndefined();
    expect(changes).toBe(2);
  });

  it('an empty service port means the first port', () => {
    const t = new InterceptTable(ports);
    t.update([info('a', '')]);
    expect(t.activeFor(9900)?.name).toBe('a');
  });
});
