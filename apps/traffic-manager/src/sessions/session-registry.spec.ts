import { pino } from 'pino';

import { FakeClock } from '../util/clock.js';
import { SessionEndedError, SessionRegistry, UnknownSessionError } from './session-registry.js';

const client = { name: 'ws', namespace: 'default', installId: 'i', version: '1' };
const agent = {
  name: 'echo',
  namespace: 'default',
  podName: 'echo-1',
  podIp: Buffer.from([198, 18, 1, 5]),
  version: '1',
};

function registry(clock: FakeClock) {
  return new SessionRegistry({
    clock,
    log: pino({ level: 'silent' }),
    clientTtlMs: 60_000,
    agentTtlMs: 15_000,
  });
}

describe('SessionRegistry', () => {
  it('keeps sessions that remain and expires those that do not, per kind', () => {
    const clock = new FakeClock();
    const r = registry(clock);
    const c = r.arriveAsClient(client);
    const a = r.arriveAsAgent(agent);
    expect(a.id).toMatch(/^agent:/);
    clock.advance(10_000);
    r.remain(a.id);
    clock.advance(10_000);
    expect(r.sweep()).toBe(0);
    clock.advance(6_000); // agent: 16 s since its last Remain
    expect(r.sweep()).toBe(1);
    expect(() => r.get(a.id)).toThrow(UnknownSessionError);
    expect(a.signal.aborted).toBe(true);
    const reason: unknown = a.signal.reason;
    expect(reason).toBeInstanceOf(SessionEndedError);
    expect((reason as SessionEndedError).reason).toBe('expired');
    expect((reason as SessionEndedError).message).toMatch(/expired.*TTL 15 s.*arrive again/);
    expect(r.get(c.id)).toBe(c);
    clock.advance(40_000);
    expect(r.sweep()).toBe(1);
    expect(r.count('client')).toBe(0);
  });

  it('start() sweeps periodically with the injected clock', () => {
    const clock = new FakeClock();
    const r = registry(clock);
    const a = r.arriveAsAgent(agent);
    r.start();
    clock.advance(20_000);
    expect(a.signal.aborted).toBe(true);
    r.close();
  });

  it('depart ends the session; close ends all with reason shutdown; listeners see both', () => {
    const clock = new FakeClock();
    const r = registry(clock);
    const events: string[] = [];
    r.onChange((e, s) => events.push(`${e} ${s.kind}`));
    const c1 = r.arriveAsClient(client);
    const c2 = r.arriveAsClient(client);
    r.depart(c1.id);
    expect((c1.signal.reason as SessionEndedError).reason).toBe('departed');
    r.close();
    expect((c2.signal.reason as SessionEndedError).reason).toBe('shutdown');
    expect(events).toEqual(['arrived client', 'arrived client', 'ended client', 'ended client']);
    expect(() => r.remain(c1.id)).toThrow(/unknown.*arrive again/);
  });
});
