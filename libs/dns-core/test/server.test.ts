// Drives the server with real `dig` (UDP and +tcp) and Node's resolver on 127.0.0.1 random ports.
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { openDnsServer } from '../src/server.js';
import type { DnsServer } from '../src/server.js';
import { createUdpTcpUpstream } from '../src/upstream.js';
import type { Upstream } from '../src/upstream.js';
import {
  ECHO,
  TableCluster,
  baseConfig,
  dig,
  manyA,
  records,
  startUpstream,
  twoQuestionQuery,
  udpExchange,
  withServer,
} from './helpers.js';
import { Rcode } from '../src/types.js';
import type { ClusterResolver } from '../src/types.js';

function nodeResolver(port: number): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

describe('dns server with dig', () => {
  let server: DnsServer;
  let cluster: TableCluster;
  beforeAll(async () => {
    cluster = new TableCluster(records);
    server = await openDnsServer({ address: '127.0.0.1', config: baseConfig, cluster });
  });
  afterAll(() => server.close());

  const types: Array<[string, string, string]> = [
    ['A', ECHO, '198.19.0.5'],
    ['AAAA', ECHO, '2001:db8::5'],
    ['TXT', ECHO, '"hello"'],
    ['MX', ECHO, '10 mail.default.svc.cluster.local.'],
    ['CNAME', 'alias.default.svc.cluster.local', `${ECHO}.`],
    ['SRV', '_http._tcp.echo.default.svc.cluster.local', `0 5 8080 ${ECHO}.`],
    ['NS', 'cluster.local', 'ns.dns.cluster.local.'],
    ['PTR', '5.0.19.198.in-addr.arpa', `${ECHO}.`],
  ];
  for (const transport of [[], ['+tcp']]) {
    it.each(types)(`answers %s over ${transport[0] ?? 'udp'} with a 4 s TTL`, async (type, name, want) => {
      const r = await dig(server.address.port, name, type, transport);
      expect(r.status).toBe('NOERROR');
      expect(r.flags).toContain('aa');
      expect(r.answers).toHaveLength(1);
      const [owner, ttl, , rtype, ...data] = r.answers[0]!;
      expect(owner).toBe(`${name}.`);
      expect(ttl).toBe('4');
      expect(rtype).toBe(type);
      expect(data.join(' ')).toBe(want);
    });
  }

  it('keeps the ID and the letter case of the question', async () => {
    const r = await dig(server.address.port, 'EcHo.DeFault.SVC.cluster.LOCAL');
    expect(r.answers[0]![0]).toBe('EcHo.DeFault.SVC.cluster.LOCAL.');
    const msg = dnsPacket.encode({
      type: 'query',
      id: 4242,
      questions: [{ type: 'A', name: 'ECHO.default.svc.cluster.local' }],
    });
    const reply = dnsPacket.decode((await udpExchange(server.address.port, msg))!);
    expect(reply.id).toBe(4242);
    expect(reply.questions?.[0]?.name).toBe('ECHO.default.svc.cluster.local');
  });

  it('NXDOMAIN for a missing name, NODATA (NOERROR, no answers) for a missing type', async () => {
    expect((await dig(server.address.port, 'nope.default.svc.cluster.local')).status).toBe('NXDOMAIN');
    const nodata = await dig(server.address.port, 'v4only.default.svc.cluster.local', 'AAAA');
    expect(nodata.status).toBe('NOERROR');
    expect(nodata.answers).toHaveLength(0);
  });

  it('an A miss is NODATA when the name is known to exist through another type (RFC 4074)', async () => {
    // A cluster that says NXDOMAIN for A of an IPv6-only name (as some resolvers do).
    const v6only = 'v6only.default.svc.cluster.local';
    const cluster: ClusterResolver = {
      resolve: async (q) =>
        q.type === 'AAAA' && q.name === v6only
          ? { rcode: Rcode.NOERROR, answers: [{ type: 'AAAA', name: v6only, data: '2001:db8::6' }] }
          : { rcode: Rcode.NXDOMAIN, answers: [] },
    };
    const s = await openDnsServer({ address: '127.0.0.1', config: baseConfig, cluster });
    try {
      expect((await dig(s.address.port, v6only, 'A')).status).toBe('NXDOMAIN'); // nothing known yet
      expect((await dig(s.address.port, v6only, 'AAAA')).answers).toHaveLength(1);
      const a = await dig(s.address.port, v6only, 'A');
      expect(a.status).toBe('NOERROR');
      expect(a.answers).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it('single labels through the tel2-search marker: stripped before asking the cluster', async () => {
    const before = cluster.calls.length;
    const r = await dig(server.address.port, 'Web.tel2-search');
    expect(r.status).toBe('NOERROR');
    expect(r.answers[0]).toEqual(['Web.tel2-search.', '4', 'IN', 'A', '198.19.0.7']);
    expect(cluster.calls.slice(before)).toEqual([{ name: 'web', type: 'A' }]);
    // Still carrying the marker after stripping: never a cluster name.
    expect((await dig(server.address.port, 'a.tel2-search.tel2-search')).status).toBe('NXDOMAIN');
  });

  it('truncates a large UDP answer and dig retries over TCP', async () => {
    const truncated = await dig(server.address.port, 'big.default.svc.cluster.local', 'A', [
      '+noedns',
      '+ignore',
    ]);
    expect(truncated.flags).toContain('tc');
    expect(truncated.answers).toHaveLength(0);
    const retried = await dig(server.address.port, 'big.default.svc.cluster.local', 'A', ['+noedns']);
    expect(retried.answers).toHaveLength(60);
    // EDNS lifts the limit to min(client, 1232): 60 answers fit, 100 do not.
    expect(
      (await dig(server.address.port, 'big.default.svc.cluster.local', 'A', ['+bufsize=4096', '+ignore']))
        .answers,
    ).toHaveLength(60);
    const huge = await dig(server.address.port, 'huge.default.svc.cluster.local', 'A', [
      '+bufsize=4096',
      '+ignore',
    ]);
    expect(huge.flags).toContain('tc');
    expect(
      (await dig(server.address.port, 'huge.default.svc.cluster.local', 'A', ['+tcp'])).answers,
    ).toHaveLength(100);
  });

  it('a route rule over dig: mapped namespace on a label boundary', async () => {
    server.updateConfig({ ...baseConfig, mappedNamespaces: ['ns1'] });
    expect((await dig(server.address.port, 'ns1only.ns1')).answers[0]?.[4]).toBe('198.19.0.8');
    const before = cluster.calls.length;
    expect((await dig(server.address.port, 'ns1only.xns1')).status).toBe('NXDOMAIN'); // no fallback here
    expect(cluster.calls.length).toBe(before);
    server.updateConfig(baseConfig);
  });

  it('NOTIMP for an unsupported type of a cluster name and for other opcodes', async () => {
    expect((await dig(server.address.port, ECHO, 'SOA')).status).toBe('NOTIMP');
    const notify = Buffer.from(
      dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'SOA', name: 'x' }] }),
    );
    notify[2] = 4 << 3;
    const reply = (await udpExchange(server.address.port, notify))!;
    expect(reply[3]! & 0x0f).toBe(4);
    expect(reply.readUInt16BE(0)).toBe(9);
  });

  it('answers the resolved sanity name and localhost locally', async () => {
    const sanity = await dig(server.address.port, 'jhfweoitnkgyeta.tel2-search');
    expect(sanity.answers[0]).toEqual(['jhfweoitnkgyeta.tel2-search.', '0', 'IN', 'A', '127.0.0.1']);
    expect((await dig(server.address.port, 'localhost', 'AAAA')).answers[0]?.[4]).toBe('::1');
  });

  it('FORMERR for two questions', async () => {
    expect((await udpExchange(server.address.port, twoQuestionQuery()))![3]! & 0x0f).toBe(1);
  });
});

describe("dns server with Node's resolver", () => {
  it('resolves every record type, NXDOMAIN and NODATA', async () => {
    await withServer({}, async (server) => {
      const r = nodeResolver(server.address.port);
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.5']);
      expect(await r.resolve4(ECHO, { ttl: true })).toEqual([{ address: '198.19.0.5', ttl: 4 }]);
      expect(await r.resolve6(ECHO)).toEqual(['2001:db8::5']);
      expect(await r.resolveTxt(ECHO)).toEqual([['hello']]);
      expect(await r.resolveMx(ECHO)).toEqual([{ priority: 10, exchange: 'mail.default.svc.cluster.local' }]);
      expect(await r.resolveCname('alias.default.svc.cluster.local')).toEqual([ECHO]);
      expect(await r.resolveSrv('_http._tcp.echo.default.svc.cluster.local')).toEqual([
        { name: ECHO, port: 8080, priority: 0, weight: 5 },
      ]);
      expect(await r.resolveNs('cluster.local')).toEqual(['ns.dns.cluster.local']);
      expect(await r.reverse('198.19.0.5')).toEqual([ECHO]);
      expect(await r.resolve4('web.tel2-search')).toEqual(['198.19.0.7']);
      await expect(r.resolve4('nope.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      await expect(r.resolve6('v4only.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENODATA' });
      // c-ares retries a truncated answer over TCP by itself.
      expect(await r.resolve4('huge.default.svc.cluster.local')).toHaveLength(100);
    });
  });

  it('uses the configured cluster TTL', async () => {
    await withServer({ clusterTtlS: 7 }, async (server) => {
      expect(await nodeResolver(server.address.port).resolve4(ECHO, { ttl: true })).toEqual([
        { address: '198.19.0.5', ttl: 7 },
      ]);
    });
  });

  it('calls the cluster once for 100 identical concurrent queries, then serves from the cache', async () => {
    await withServer({}, async (server, cluster) => {
      cluster.delayMs = 50;
      const r = nodeResolver(server.address.port);
      const results = await Promise.all(Array.from({ length: 100 }, () => r.resolve4(ECHO)));
      expect(results.every((a) => a[0] === '198.19.0.5')).toBe(true);
      expect(cluster.calls).toHaveLength(1);
      await r.resolve4(ECHO);
      expect(cluster.calls).toHaveLength(1);
      expect(server.stats.cacheHits).toBeGreaterThanOrEqual(1);
    });
  });

  it('negative-caches NXDOMAIN briefly and forgets everything on flush()', async () => {
    let now = 0;
    await withServer({ now: () => now, negativeCacheTtlMs: 1000 }, async (server, cluster) => {
      const r = nodeResolver(server.address.port);
      await expect(r.resolve4('later.default.svc.cluster.local')).rejects.toMatchObject({
        code: 'ENOTFOUND',
      });
      cluster.records = [
        ...records,
        { type: 'A', name: 'later.default.svc.cluster.local', data: '198.19.0.9' },
      ];
      await expect(r.resolve4('later.default.svc.cluster.local')).rejects.toMatchObject({
        code: 'ENOTFOUND',
      });
      now = 1000;
      expect(await r.resolve4('later.default.svc.cluster.local')).toEqual(['198.19.0.9']);
      // A changed record is served from the cache until flush().
      cluster.records = cluster.records.map((a) =>
        a.name === ECHO && a.type === 'A' ? { ...a, data: '198.19.0.55' } : a,
      );
      await r.resolve4(ECHO);
      cluster.records = cluster.records.map((a) =>
        a.name === ECHO && a.type === 'A' ? { ...a, data: '198.19.0.66' } : a,
      );
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.55']);
      server.flush();
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.66']);
    });
  });

  it('updateConfig() changes routing at run time and flushes the cache', async () => {
    await withServer({}, async (server, cluster) => {
      const r = nodeResolver(server.address.port);
      await expect(r.resolve4('ns1only.ns1')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      expect(cluster.calls).toHaveLength(0);
      await r.resolve4(ECHO);
      server.updateConfig({ ...baseConfig, mappedNamespaces: ['ns1'] });
      expect(server.cacheSize).toBe(0);
      expect(await r.resolve4('ns1only.ns1')).toEqual(['198.19.0.8']);
      expect(() => server.updateConfig({ clusterDomain: '' })).toThrow(/clusterDomain/);
      expect(server.config.routes).toContain('ns1'); // a bad config changes nothing
    });
  });
});

describe('fallback upstream', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let fallback: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream([
      { type: 'A', name: 'www.example.test', data: '198.18.0.1' },
      ...manyA('many.example.test', 60),
      { type: 'A', name: 'echo.default.svc.cluster.local', data: '198.18.9.9' }, // must never be used
    ]);
    fallback = createUdpTcpUpstream({ address: '127.0.0.1', port: upstream.port, timeoutMs: 1000 });
  });
  afterAll(async () => {
    fallback.close();
    await upstream.close();
  });

  it('answers non-cluster names from the upstream, over UDP and TCP', async () => {
    await withServer({ fallback }, async (server, cluster) => {
      for (const extra of [[], ['+tcp']]) {
        const r = await dig(server.address.port, 'WWW.example.test', 'A', extra);
        expect(r.status).toBe('NOERROR');
        expect(r.flags).toContain('ra');
        expect(r.answers[0]).toEqual(
          ['WWW.example.test.', '300', 'IN', 'A', '198.18.0.1'].map((x, i) =>
            i === 1 ? r.answers[0]![1]! : x,
          ),
        );
      }
      expect((await dig(server.address.port, 'missing.example.test')).status).toBe('NXDOMAIN');
      expect(cluster.calls).toHaveLength(0);
    });
  });

  it('retries over TCP when the upstream truncates', async () => {
    await withServer({ fallback }, async (server) => {
      const tcpBefore = upstream.tcpQueries;
      const r = await dig(server.address.port, 'many.example.test', 'A', ['+tcp']);
      expect(r.answers).toHaveLength(60);
      expect(upstream.tcpQueries).toBe(tcpBefore + 1);
    });
  });

  it('never sends cluster-domain names, marker names or recursion checks to the fallback', async () => {
    await withServer({ fallback }, async (server) => {
      const before = upstream.udpQueries;
      expect((await dig(server.address.port, 'nope.default.svc.cluster.local')).status).toBe('NXDOMAIN');
      expect((await dig(server.address.port, 'nope.tel2-search')).status).toBe('NXDOMAIN');
      expect((await dig(server.address.port, 'tel2-recursion-check.kube-system')).status).toBe('NXDOMAIN');
      expect(upstream.udpQueries).toBe(before);
    });
  });

  it('a cluster-routed name the cluster does not know goes to the fallback (include suffix)', async () => {
    await withServer(
      { fallback, config: { ...baseConfig, includeSuffixes: ['example.test'] } },
      async (server, cluster) => {
        expect((await dig(server.address.port, 'www.example.test')).answers[0]?.[4]).toBe('198.18.0.1');
        expect(cluster.calls).toEqual([{ name: 'www.example.test', type: 'A' }]);
      },
    );
  });

  it('SERVFAIL (not a hang) when the upstream does not answer', async () => {
    const silent = createUdpTcpUpstream({ address: '127.0.0.1', port: 9, timeoutMs: 300 });
    try {
      await withServer({ fallback: silent }, async (server) => {
        const t0 = Date.now();
        expect((await dig(server.address.port, 'www.example.test')).status).toBe('SERVFAIL');
        expect(Date.now() - t0).toBeLessThan(2000);
      });
    } finally {
      silent.close();
    }
  });
});

describe('bounds and logs', () => {
  it('answers SERVFAIL at once beyond maxConcurrentQueries', async () => {
    await withServer({ maxConcurrentQueries: 2 }, async (server, cluster) => {
      cluster.delayMs = 300;
      const r = nodeResolver(server.address.port);
      const slow = ['a', 'b'].map((n) => r.resolve4(`${n}.default.svc.cluster.local`).catch(() => undefined));
      await new Promise((res) => setTimeout(res, 50));
      await expect(r.resolve4(ECHO)).rejects.toMatchObject({ code: 'ESERVFAIL' });
      expect(server.stats.overloaded).toBe(1);
      await Promise.all(slow);
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.5']);
    });
  });

  it('pauses a TCP connection at maxTcpPipeline outstanding queries and still answers them all', async () => {
    await withServer({ maxTcpPipeline: 2 }, async (server, cluster) => {
      cluster.delayMs = 60;
      const frames = Buffer.concat(
        [1, 2, 3, 4, 5].map((id) => {
          const q = dnsPacket.encode({
            type: 'query',
            id,
            questions: [{ type: 'A', name: `n${id}.default.svc.cluster.local` }],
          });
          const len = Buffer.alloc(2);
          len.writeUInt16BE(q.length);
          return Buffer.concat([len, q]);
        }),
      );
      const t0 = Date.now();
      const ids = await new Promise<number[]>((resolve) => {
        const got: number[] = [];
        let buf = Buffer.alloc(0);
        const s = net.connect(server.address.port, '127.0.0.1', () => s.write(frames));
        s.on('data', (c) => {
          buf = Buffer.concat([buf, c]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            got.push(buf.readUInt16BE(2));
            buf = buf.subarray(2 + buf.readUInt16BE(0));
          }
          if (got.length === 5) {
            s.destroy();
            resolve(got);
          }
        });
      });
      expect(ids.sort()).toEqual([1, 2, 3, 4, 5]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // three waves of at most two lookups
    });
  });

  it('logs every routing decision in one line with its reason', async () => {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = {
      debug: (fields: object, message: string) =>
        lines.push({ fields: fields as Record<string, unknown>, message }),
      info: () => {},
      warn: () => {},
    };
    await withServer({ log }, async (server) => {
      await dig(server.address.port, 'www.example.test');
      await dig(server.address.port, 'x.svc');
      expect(lines.map((l) => l.message)).toEqual([
        'cluster DNS excluded for name "www.example.test": no inclusion rule matched',
        'cluster DNS included for name "x.svc": ends with "svc"',
      ]);
      expect(lines[1]!.fields).toMatchObject({ name: 'x.svc', cluster: true, rule: 'svc' });
      expect(server.explain('Echo.Tel2-Search.')).toMatchObject({ name: 'echo', rule: 'single-label' });
    });
  });

  it('serves IPv6 loopback', async () => {
    await withServer({ address: '::1' }, async (server) => {
      const r = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`[::1]:${server.address.port}`]);
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.5']);
    });
  });
});

describe('no open resolver', () => {
  it('refuses to bind a wildcard address', async () => {
    const cluster = new TableCluster([]);
    for (const address of ['0.0.0.0', '::']) {
      await expect(openDnsServer({ address, config: baseConfig, cluster })).rejects.toThrow(/wildcard/);
    }
    await expect(openDnsServer({ address: 'localhost', config: baseConfig, cluster })).rejects.toThrow(
      /not an IP address/,
    );
  });

  it('binds only the given address', async () => {
    await withServer({ address: '127.0.0.2' }, async (server) => {
      expect(server.address.address).toBe('127.0.0.2');
      // Nothing answers on 127.0.0.1 at that port.
      const msg = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: ECHO }] });
      expect(await udpExchange(server.address.port, msg, 300)).toBeUndefined();
    });
  });

  it('answers REFUSED over UDP and closes TCP for sources it does not serve', async () => {
    await withServer({ allowSource: (a) => a === '198.18.0.1' }, async (server, cluster) => {
      expect((await dig(server.address.port, ECHO)).status).toBe('REFUSED');
      const closed = await new Promise<boolean>((resolve) => {
        const s = net.connect(server.address.port, '127.0.0.1');
        s.on('close', () => resolve(true));
        s.on('error', () => {});
      });
      expect(closed).toBe(true);
      expect(cluster.calls).toHaveLength(0);
      expect(server.stats.refused).toBeGreaterThanOrEqual(2);
    });
  });
});
