import { pino } from 'pino';

import { manager } from '@telepresence/rpc';

import { SessionRegistry } from '../sessions/session-registry.js';
import { systemClock } from '../util/clock.js';
import { InterceptStore } from './intercept-store.js';

function setup() {
  const sessions = new SessionRegistry({
    clock: systemClock,
    log: pino({ level: 'silent' }),
    clientTtlMs: 60_000,
    agentTtlMs: 15_000,
  });
  const store = new InterceptStore(sessions);
  const client = sessions.arriveAsClient({ name: 'c', namespace: 'default', installId: '', version: '' });
  const other = sessions.arriveAsClient({ name: 'o', namespace: 'default', installId: '', version: '' });
  return { sessions, store, client, other };
}

const spec = (s: Partial<manager.InterceptSpec>) =>
  manager.InterceptSpec.fromPartial({ workload: 'echo', servicePort: 'http', localPort: 8080, ...s });

describe('InterceptStore rules', () => {
  it('refuses intercepts that would span two namespaces, naming both', () => {
    const { store, client } = setup();
    store.create(client, spec({}));
    store.create(client, spec({ name: 'web', workload: 'web' }));
    expect(() => store.create(client, spec({ name: 'x', workload: 'x', namespace: 'team-b' }))).toThrow(
      /intercept "x" is in namespace "team-b" but intercept "echo" is in "default": intercepts of one client cannot span namespaces/,
    );
  });

  it('refuses a port another client already intercepts, not a local-only one', () => {
    const { store, client, other } = setup();
    store.create(client, spec({}));
    expect(() => store.create(other, spec({}))).toThrow(/already intercepted by another client/);
    expect(() => store.create(other, spec({ localOnly: true }))).not.toThrow();
  });

  it('drops a client intercepts when it departs', () => {
    const { sessions, store, client } = setup();
    store.create(client, spec({}));
    sessions.depart(client.id);
    expect(store.forWorkload('echo', 'default')).toEqual([]);
  });
});
