import { pino } from 'pino';
import type { manager } from '@telepresence/rpc';
import { FakeManagerApi, SESSION_GONE, UNAVAILABLE, until } from '../testing/fake-manager-api.js';
import { ManagerConnection } from './manager-connection.js';

const log = pino({ level: 'silent' });

function info(serviceMask: number): manager.ClusterInfo {
  return {
    serviceSubnet: { ip: Buffer.from([198, 19, 0, 0]), mask: serviceMask },
    podSubnets: [],
    managerPodIp: Buffer.from([198, 18, 1, 2]),
    managerPodPort: 8081,
    managerNamespace: 'ambassador',
    routing: undefined,
    dns: undefined,
  };
}

async function connected(api: FakeManagerApi, later: manager.ClusterInfo[] = []) {
  const conn = new ManagerConnection({
    api,
    log,
    namespace: 'ns1',
    onClusterInfo: (ci) => later.push(ci),
    random: () => 0.5, // no jitter
  });
  await conn.reach('127.0.0.1:1', 1000);
  await conn.arrive();
  const first = conn.firstClusterInfo(60_000);
  (await api.watchOpened(1)).push(info(20));
  await first;
  return conn;
}

describe('ManagerConnection', () => {
  it('reaches the manager, arrives, and watches ClusterInfo with that session', async () => {
    const api = new FakeManagerApi();
    const later: manager.ClusterInfo[] = [];
    const conn = await connected(api, later);
    expect(api.calls).toEqual(['waitForReady', 'connectTunnels', 'version', 'arrive ns1', 'watch s1']);
    api.openWatches[0]?.push(info(16));
    await until(() => later.length === 1);
    expect(later[0]?.serviceSubnet?.mask).toBe(16);
    expect(conn.session?.sessionId).toBe('s1');
    await conn.close();
  });

  it('fails the first ClusterInfo when the watch breaks before it, naming why', async () => {
    const api = new FakeManagerApi();
    const conn = new ManagerConnection({ api, log, namespace: 'ns1', onClusterInfo: () => undefined });
    await conn.arrive();
    const first = conn.firstClusterInfo(60_000);
    (await api.watchOpened(1)).fail(UNAVAILABLE());
    await expect(first).rejects.toThrow('watching cluster info: connection refused');
    await conn.close();
  });

  it('shows an outage while the watch is broken and opens it again with the same session', async () => {
    const api = new FakeManagerApi();
    const later: manager.ClusterInfo[] = [];
    const conn = await connected(api, later);
    api.openWatches[0]?.fail(UNAVAILABLE());
    await until(() => conn.outage !== '');
    expect(conn.outage).toBe('traffic-manager unreachable: connection refused');
    const again = await api.watchOpened(2);
    expect(again.session).toBe('s1');
    expect(conn.outage).not.toBe(''); // until the manager sends something
    again.push(info(18));
    await until(() => later.length === 1);
    expect(conn.outage).toBe('');
    expect(api.calls.filter((c) => c.startsWith('arrive'))).toHaveLength(1);
    await conn.close();
  });

  it('watches again after the manager ends the stream', async () => {
    const api = new FakeManagerApi();
    const conn = await connected(api);
    api.openWatches[0]?.end();
    await until(() => conn.outage !== '');
    expect(conn.outage).toBe('traffic-manager unreachable: cluster info stream ended');
    expect((await api.watchOpened(2)).session).toBe('s1');
    await conn.close();
  });

  it('arrives again when Remain says the session expired, and the watch follows the new session', async () => {
    const api = new FakeManagerApi();
    const conn = await connected(api);
    api.failNext.set('remain', SESSION_GONE());
    await conn.remain();
    expect(conn.session?.sessionId).toBe('s2');
    expect((await api.watchOpened(2)).session).toBe('s2');
    expect(api.calls).toContain('watch s1 cancelled');
    expect(conn.outage).toBe('');
    await conn.close();
  });

  it('shows a failed Remain as a keep-alive outage until one succeeds', async () => {
    const api = new FakeManagerApi();
    const conn = await connected(api);
    api.failNext.set('remain', UNAVAILABLE());
    await conn.remain();
    expect(conn.outage).toBe('keep-alive: connection refused');
    await conn.remain();
    expect(conn.outage).toBe('');
    await conn.close();
  });

  it('closes: stops watching, then departs only while the manager is reachable', async () => {
    const api = new FakeManagerApi();
    const conn = await connected(api);
    await conn.close();
    await conn.depart();
    expect(api.calls.slice(-2)).toEqual(['watch s1 cancelled', 'depart s1']);

    const down = new FakeManagerApi();
    const lost = await connected(down);
    down.openWatches[0]?.fail(UNAVAILABLE());
    await until(() => lost.outage !== '');
    await lost.close();
    await lost.depart();
    expect(down.calls.some((c) => c.startsWith('depart'))).toBe(false);
  });
});
