// traffic-manager: WatchClusterInfo fan-out latency and uncached LookupDNS latency through the manager vs
// the same query sent straight to the DNS server. Everything on loopback, in this process.
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';

import { ManagerClient, type manager } from '@telepresence/rpc';
import { parseConfig, startTrafficManager, subnetMath } from '@telepresence/traffic-manager';
import { FakeClusterApi, fakeNode } from '@telepresence/traffic-manager/testing';

import { fmt, median, printTable, type BenchSuite } from './report.js';

/** A loopback DNS server answering every A query with one address (other types: NODATA). */
async function startDns(): Promise<{ address: string; close(): void }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (question === undefined) return;
    const answers =
      question.type === 'A'
        ? [{ name: question.name, type: 'A' as const, ttl: 30, class: 'IN' as const, data: '198.19.0.20' }]
        : [];
    socket.send(
      dnsPacket.encode({
        id: q.id,
        type: 'response',
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
        answers,
      }),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(socket.address() as AddressInfo).port}`, close: () => socket.close() };
}

function unary<Res>(fn: (cb: (e: ServiceError | null, r: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => fn((e, r) => (e ? reject(e) : resolve(r))));
}

const suite: BenchSuite = {
  name: 'manager',
  async run() {
    const dns = await startDns();
    const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
    api.nodes.set(fakeNode('node-1', '198.18.1.0/24'));
    const config = parseConfig(
      {
        POD_IP: '198.18.1.10',
        POD_NAMESPACE: 'ambassador',
        SERVER_HOST: '127.0.0.1',
        SERVER_PORT: '0',
        METRICS_PORT: '0',
        DNS_SERVERS: dns.address,
        SUBNET_DEBOUNCE: '1ms',
      },
      subnetMath,
    );
    const tm = await startTrafficManager(
      {
        config,
        log: pino({ level: 'silent' }),
        api,
        subnets: subnetMath,
        resolvConf: {
          nameservers: [],
          search: ['ambassador.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
          ndots: 5,
        },
        version: 'bench',
        defaultMetrics: false,
      },
      { metricsEnabled: false },
    );
    const client = new ManagerClient(`127.0.0.1:${tm.grpcPort}`, credentials.createInsecure());
    try {
      const arrived = await unary<manager.ArriveAsClientResponse>((cb) =>
        client.arriveAsClient(
          { client: { name: 'bench', namespace: 'default', installId: 'b', version: 'b' } },
          new Metadata(),
          {},
          cb,
        ),
      );
      const session = arrived.session;

      // Fan-out: time from a change until every subscriber has it.
      const fanRows: string[][] = [];
      for (const subscribers of [1, 10, 100, 1000]) {
        const latest = new Array<number>(subscribers).fill(0);
        let waiting: (() => void) | undefined;
        let target = 0;
        // Own connection per size: closing it ends all its streams at once (cancelling a thousand streams
        // one by one looks like an HTTP/2 rapid-reset attack to Node's server).
        const watcher = new ManagerClient(`127.0.0.1:${tm.grpcPort}`, credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1,
        });
        Array.from({ length: subscribers }, (_, i) => {
          const s = watcher.watchClusterInfo({ session });
          s.on('data', (info: manager.ClusterInfo) => {
            latest[i] = info.podSubnets.length;
            if (latest.every((n) => n === target)) waiting?.();
          });
          s.on('error', () => undefined);
          return s;
        });
        const times: number[] = [];
        for (let run = 0; run < 12; run++) {
          target = run % 2 === 0 ? 2 : 1;
          const done = new Promise<void>((resolve) => (waiting = resolve));
          const t0 = performance.now();
          tm.clusterInfo.setPodSubnets(target === 2 ? ['198.18.1.0/24', '198.18.2.0/24'] : ['198.18.1.0/24']);
          await done;
          if (run > 1) times.push(performance.now() - t0);
        }
        watcher.close();
        fanRows.push([String(subscribers), fmt(median(times)), fmt(median(times) / subscribers, 3)]);
      }
      printTable(
        'WatchClusterInfo fan-out (one change until all subscribers have it)',
        ['subscribers', 'median ms', 'ms per subscriber'],
        fanRows,
      );

      // Uncached lookups: through the manager (gRPC + c-ares) vs c-ares straight to the DNS server.
      const queries = 400;
      const direct = new Resolver({ timeout: 1000, tries: 1 });
      direct.setServers([dns.address]);
      const viaManager: number[] = [];
      const viaDirect: number[] = [];
      for (let i = 0; i < queries; i++) {
        const name = `svc${i}.default.svc.cluster.local.`;
        let t0 = performance.now();
        await unary<manager.LookupDNSResponse>((cb) =>
          client.lookupDns({ session, question: { name, type: 1 } }, new Metadata(), {}, cb),
        );
        viaManager.push(performance.now() - t0);
        t0 = performance.now();
        await direct.resolve4(name.slice(0, -1));
        viaDirect.push(performance.now() - t0);
      }
      const single: number[] = [];
      for (let i = 0; i < queries; i++) {
        const t0 = performance.now();
        await unary<manager.LookupDNSResponse>((cb) =>
          client.lookupDns({ session, question: { name: `svc${i}.`, type: 1 } }, new Metadata(), {}, cb),
        );
        single.push(performance.now() - t0);
      }
      const version: number[] = [];
      for (let i = 0; i < queries; i++) {
        const t0 = performance.now();
        await unary<manager.VersionResponse>((cb) => client.version({}, new Metadata(), {}, cb));
        version.push(performance.now() - t0);
      }
      const p = (xs: number[], q: number) =>
        [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? Number.NaN;
      printTable(
        `Uncached A lookups, ${queries} sequential queries (loopback DNS server)`,
        ['path', 'p50 ms', 'p99 ms', 'vs direct p50'],
        [
          ['direct c-ares', fmt(p(viaDirect, 0.5), 3), fmt(p(viaDirect, 0.99), 3), '1.00'],
          [
            'Version (gRPC unary, no DNS)',
            fmt(p(version, 0.5), 3),
            fmt(p(version, 0.99), 3),
            fmt(p(version, 0.5) / p(viaDirect, 0.5)),
          ],
          [
            'LookupDNS, FQDN',
            fmt(p(viaManager, 0.5), 3),
            fmt(p(viaManager, 0.99), 3),
            fmt(p(viaManager, 0.5) / p(viaDirect, 0.5)),
          ],
          [
            'LookupDNS, single label (search list)',
            fmt(p(single, 0.5), 3),
            fmt(p(single, 0.99), 3),
            fmt(p(single, 0.5) / p(viaDirect, 0.5)),
          ],
        ],
      );
    } finally {
      client.close();
      await tm.close();
      dns.close();
    }
  },
};

export default suite;
