// Recursion detection (reference 4.7) against a cluster that forwards unknown names back to this server,
// as a local cluster on the same host does.
import { promises as dnsPromises } from 'node:dns';
import type { Answer } from 'dns-packet';
import dnsPacket from 'dns-packet';
import { runRecursionCheck } from '../src/recursion.js';
import { openDnsServer } from '../src/server.js';
import type { DnsServer } from '../src/server.js';
import { Rcode } from '../src/types.js';
import type { ClusterAnswer, ClusterQuestion, ClusterResolver } from '../src/types.js';
import { TableCluster, udpExchange } from './helpers.js';

const ECHO = 'echo.default.svc.cluster.local';
const known: Answer[] = [{ type: 'A', name: ECHO, data: '198.19.0.5' }];
const config = { clusterDomain: 'cluster.local', connectedNamespace: 'default' };

/** Knows ECHO; forwards everything else to `upstreamPort` (our own server), like CoreDNS's forward plugin. */
class LoopingCluster implements ClusterResolver {
  upstreamPort = 0;
  calls: ClusterQuestion[] = [];
  async resolve(q: ClusterQuestion): Promise<ClusterAnswer> {
    this.calls.push(q);
    const hit = known.filter((a) => a.name === q.name && a.type === q.type);
    if (hit.length > 0) return { rcode: Rcode.NOERROR, answers: hit };
    const msg = dnsPacket.encode({
      type: 'query',
      id: Math.floor(Math.random() * 65535),
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: q.type, name: q.name }],
    });
    const reply = await udpExchange(this.upstreamPort, msg, 600);
    if (!reply) throw new Error('forwarded query timed out');
    return { rcode: reply[3]! & 0x0f, answers: dnsPacket.decode(reply).answers ?? [] };
  }
}

function resolver(server: DnsServer): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${server.address.port}`]);
  return r;
}

const probeThrough = (server: DnsServer) => (name: string) => resolver(server).resolve4(name);

it('detects recursion, then answers a nonexistent cluster name NXDOMAIN within 100 ms', async () => {
  const cluster = new LoopingCluster();
  await using server = await openDnsServer({ address: '127.0.0.1', config, cluster, lookupTimeoutMs: 2000 });
  cluster.upstreamPort = server.address.port;
  expect(server.recursionState).toBe('not-yet');
  expect(await runRecursionCheck(server, { probe: probeThrough(server), intervalMs: 200 })).toBe('detected');
  expect(server.recursionState).toBe('detected');

  const t0 = performance.now();
  await expect(resolver(server).resolve4('nonexistent.default.svc.cluster.local')).rejects.toMatchObject({
    code: 'ENOTFOUND',
  });
  expect(performance.now() - t0).toBeLessThan(100);
  expect(server.stats.recursionsBlocked).toBe(1);
  // Known names still resolve.
  expect(await resolver(server).resolve4(ECHO)).toEqual(['198.19.0.5']);
});

it('without the check the same loop hangs until the lookup times out (what detection prevents)', async () => {
  const cluster = new LoopingCluster();
  await using server = await openDnsServer({ address: '127.0.0.1', config, cluster, lookupTimeoutMs: 400 });
  cluster.upstreamPort = server.address.port;
  const t0 = performance.now();
  await expect(resolver(server).resolve4('nonexistent.default.svc.cluster.local')).rejects.toMatchObject({
    code: expect.stringMatching(/ESERVFAIL|ETIMEOUT/),
  });
  expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
});

it('without a loop the state is not-detected and nothing is blocked', async () => {
  const cluster = new TableCluster(known);
  cluster.delayMs = 20;
  await using server = await openDnsServer({ address: '127.0.0.1', config, cluster });
  expect(await runRecursionCheck(server, { probe: probeThrough(server), intervalMs: 200 })).toBe(
    'not-detected',
  );
  const r = resolver(server);
  const answers = await Promise.all(Array.from({ length: 20 }, () => r.resolve4(ECHO)));
  expect(answers.every((a) => a[0] === '198.19.0.5')).toBe(true);
  await expect(r.resolve4('nonexistent.default.svc.cluster.local')).rejects.toMatchObject({
    code: 'ENOTFOUND',
  });
  expect(server.stats.recursionsBlocked).toBe(0);
  // The check asked the cluster a unique kube-system name, exactly once.
  expect(cluster.calls.filter((c) => c.name.startsWith('tel2-recursion-check-'))).toHaveLength(1);
});

it('parallel A and AAAA probes are one check, not a false detection', async () => {
  const cluster = new TableCluster(known);
  cluster.delayMs = 50;
  await using server = await openDnsServer({ address: '127.0.0.1', config, cluster });
  const r = resolver(server);
  await Promise.allSettled([
    r.resolve4('tel2-recursion-check.kube-system'),
    r.resolve6('tel2-recursion-check.kube-system'),
  ]);
  expect(server.recursionState).toBe('not-detected');
});

it('a check whose probe never reaches the server stays not-yet', async () => {
  await using server = await openDnsServer({
    address: '127.0.0.1',
    config,
    cluster: new TableCluster(known),
  });
  const state = await runRecursionCheck(server, {
    probe: async () => undefined,
    attempts: 3,
    intervalMs: 20,
  });
  expect(state).toBe('not-yet');
});
