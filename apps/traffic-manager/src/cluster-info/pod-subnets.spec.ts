import { pino } from 'pino';

import { FakeClusterApi, fakeNode, fakePod } from '../k8s/cluster-api.fake.js';
import { FakeClock } from '../util/clock.js';
import { podNetworkIpsOf, selectPodSubnetSource, type PodSubnetDeps } from './pod-subnets.js';
import { subnetMath } from './subnet-math.js';

const silent = pino({ level: 'silent' });

function deps(api: FakeClusterApi, clock: FakeClock, podIp = '198.18.1.10'): PodSubnetDeps {
  return { api, subnets: subnetMath, log: silent, clock, debounceMs: 500, podIp };
}

/** Lets pending promise callbacks (list, watch registration) run. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

function cluster(): FakeClusterApi {
  const api = new FakeClusterApi();
  api.nodes.set(fakeNode('node-1', '198.18.1.0/24'));
  api.nodes.set(fakeNode('node-2', '198.18.2.0/24'));
  api.pods.set(fakePod('ambassador', 'traffic-manager', '198.18.1.10'));
  api.pods.set(fakePod('default', 'echo', '198.18.2.5'));
  api.pods.set(fakePod('kube-system', 'kube-proxy', '198.19.255.3', { hostNetwork: true }));
  api.pods.set(fakePod('default', 'job', '198.18.3.4', { phase: 'Succeeded' }));
  return api;
}

describe('pod subnet strategies', () => {
  it.each([
    ['auto', '198.18.1.10', 'nodePodCIDRs'],
    ['auto', '198.18.9.10', 'coverPodIPs'],
    ['nodePodCIDRs', '198.18.9.10', 'nodePodCIDRs'],
    ['coverPodIPs', '198.18.1.10', 'coverPodIPs'],
    ['environment', '198.18.1.10', 'environment'],
  ] as const)('%s with pod IP %s uses %s', async (strategy, podIp, expected) => {
    const api = cluster();
    const source = await selectPodSubnetSource(
      strategy,
      ['198.18.0.0/16'],
      deps(api, new FakeClock(), podIp),
      new AbortController().signal,
    );
    expect(source.strategy).toBe(expected);
  });

  it('auto falls back to pod IPs when nodes cannot be listed', async () => {
    const api = cluster();
    api.nodes.listFailures.push(new Error('forbidden'));
    const source = await selectPodSubnetSource(
      'auto',
      [],
      deps(api, new FakeClock()),
      new AbortController().signal,
    );
    expect(source.strategy).toBe('coverPodIPs');
  });

  it('pod network IPs exclude host-network and finished pods', () => {
    expect(podNetworkIpsOf(fakePod('a', 'b', '198.18.1.2'))).toEqual(['198.18.1.2']);
    expect(podNetworkIpsOf(fakePod('a', 'b', '198.18.1.2', { hostNetwork: true }))).toEqual([]);
    expect(podNetworkIpsOf(fakePod('a', 'b', '198.18.1.2', { phase: 'Failed' }))).toEqual([]);
  });

  it('nodePodCIDRs publishes debounced changes, and recovers from a broken watch', async () => {
    const api = cluster();
    const clock = new FakeClock();
    const published: string[][] = [];
    const abort = new AbortController();
    const source = await selectPodSubnetSource('nodePodCIDRs', [], deps(api, clock), abort.signal);
    const running = source.run((c) => published.push(c), abort.signal);
    await flush();
    expect(published).toEqual([]);
    clock.advance(500);
    expect(published).toEqual([['198.18.1.0/24', '198.18.2.0/24']]);

    api.nodes.set(fakeNode('node-3', '198.18.3.0/24'));
    api.nodes.set(fakeNode('node-4', '198.18.4.0/24'));
    clock.advance(499);
    expect(published).toHaveLength(1);
    clock.advance(1);
    expect(published[1]).toEqual(['198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24', '198.18.4.0/24']);

    api.nodes.breakWatches();
    api.nodes.delete('node-4');
    await flush();
    await new Promise((r) => setTimeout(r, 800)); // the real backoff (~500 ms) before relisting
    await flush();
    clock.advance(500);
    expect(published[2]).toEqual(['198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24']);
    abort.abort();
    await running;
  });

  it('coverPodIPs publishes covering CIDRs of pod-network IPs only', async () => {
    const api = cluster();
    const clock = new FakeClock();
    const published: string[][] = [];
    const abort = new AbortController();
    const source = await selectPodSubnetSource('coverPodIPs', [], deps(api, clock), abort.signal);
    const running = source.run((c) => published.push(c), abort.signal);
    await flush();
    clock.advance(500);
    expect(published).toEqual([['198.18.0.0/22']]);
    api.pods.set(fakePod('default', 'far', '198.20.7.1'));
    clock.advance(500);
    expect(published[1]).toEqual(['198.18.0.0/22', '198.20.7.0/24']);
    abort.abort();
    await running;
  });

  it('environment publishes exactly the configured list', async () => {
    const published: string[][] = [];
    const abort = new AbortController();
    const source = await selectPodSubnetSource(
      'environment',
      ['198.18.2.0/24', '198.18.1.0/24'],
      deps(cluster(), new FakeClock()),
      abort.signal,
    );
    const running = source.run((c) => published.push(c), abort.signal);
    abort.abort();
    await running;
    expect(published).toEqual([['198.18.1.0/24', '198.18.2.0/24']]);
  });
});
