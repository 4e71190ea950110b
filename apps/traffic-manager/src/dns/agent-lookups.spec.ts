import { AgentDnsBroker, unionAnswers } from './agent-lookups.js';
import { Rcode as RCODE, encodeRecord } from '@telepresence/dns-core';

const a = (ip: string) => encodeRecord({ name: 'echo', type: 'A', ttl: 4, class: 'IN', data: ip });

describe('agent DNS lookups', () => {
  it('asks every listening agent and returns all answers', async () => {
    const broker = new AgentDnsBroker();
    const one = broker.register('agent:1');
    const two = broker.register('agent:2');
    expect(broker.listening(['agent:1', 'agent:2', 'agent:3'])).toEqual(['agent:1', 'agent:2']);
    const pending = broker.ask('c1', { name: 'echo', type: 1 }, ['agent:1', 'agent:2'], 5000);
    const signal = new AbortController().signal;
    const q1 = await one.queue.take(signal);
    const q2 = await two.queue.take(signal);
    expect(q1?.clientSessionId).toBe('c1');
    broker.answer('agent:1', q1!.queryId, { rcode: 0, records: [a('198.18.1.5')] });
    broker.answer('agent:2', q2!.queryId, { rcode: 0, records: [a('198.18.1.5'), a('198.18.2.5')] });
    const answers = await pending;
    expect(answers).toHaveLength(2);
    expect(unionAnswers(answers)).toEqual({
      rcode: RCODE.NOERROR,
      records: [a('198.18.1.5'), a('198.18.2.5')],
    });
  });

  it('waits for an intercepting agent whose DNS stream opens a moment later', async () => {
    const broker = new AgentDnsBroker();
    broker.register('agent:1');
    const ready = broker.whenListening(['agent:1', 'agent:2'], 5000);
    setTimeout(() => broker.register('agent:2'), 20);
    expect(await ready).toEqual(['agent:1', 'agent:2']);
  });

  it('gives up waiting for a silent agent after the bound', async () => {
    const broker = new AgentDnsBroker();
    broker.register('agent:1');
    expect(await broker.whenListening(['agent:1', 'agent:2'], 30)).toEqual(['agent:1']);
    expect(await broker.whenListening(['agent:1'], 30)).toEqual(['agent:1']);
  });

  it('waits at most the timeout and keeps what arrived', async () => {
    const broker = new AgentDnsBroker();
    const one = broker.register('agent:1');
    broker.register('agent:2');
    const pending = broker.ask('c1', { name: 'echo', type: 1 }, ['agent:1', 'agent:2'], 50);
    const q = await one.queue.take(new AbortController().signal);
    broker.answer('agent:1', q!.queryId, { rcode: 3, records: [] });
    const started = Date.now();
    expect(await pending).toEqual([{ rcode: 3, records: [] }]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('stops waiting for an agent that leaves', async () => {
    const broker = new AgentDnsBroker();
    const one = broker.register('agent:1');
    const pending = broker.ask('c1', { name: 'echo', type: 1 }, ['agent:1'], 60_000);
    one.unregister();
    expect(await pending).toEqual([]);
  });

  it('union: NXDOMAIN beats failures, NOERROR beats NXDOMAIN', () => {
    expect(
      unionAnswers([
        { rcode: 2, records: [] },
        { rcode: 3, records: [] },
      ]).rcode,
    ).toBe(RCODE.NXDOMAIN);
    expect(
      unionAnswers([
        { rcode: 3, records: [] },
        { rcode: 0, records: [] },
      ]).rcode,
    ).toBe(RCODE.NOERROR);
  });
});
