// Integration: the real Manager gRPC server on 127.0.0.1 with a real grpc-js client.
import http2 from 'node:http2';
import { createServer, type AddressInfo, type Server } from 'node:net';

import { status, type ServiceError } from '@grpc/grpc-js';

import type { manager } from '@telepresence/rpc';
import { type DialRequest, type ManagerClient } from '@telepresence/rpc';
import {
  ConnId,
  TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
  openTunnel,
  serveDialer,
} from '@telepresence/tunnel';

import { Qtype as QTYPE, Rcode as RCODE, decodeRecord, encodeRecord } from '@telepresence/dns-core';
import { call, collect, startHarness, startTestDns, type Harness } from './harness.js';

const clientInfo = { name: 'ws', namespace: 'default', installId: 'test', version: 'test' };

async function arrive(client: ManagerClient, namespace = 'default') {
  const res = await call(client, client.arriveAsClient, { client: { ...clientInfo, namespace } });
  return res.session!;
}

function ipNets(nets: manager.ClusterInfo['podSubnets']): string[] {
  return nets.map((n) => `${[...n.ip].join('.')}/${n.mask}`);
}

/** A TCP echo server on loopback that prefixes each reply with the caller's address. */
async function startEcho(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.write(`from ${socket.remoteAddress ?? '?'}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('Manager gRPC service', () => {
  let h: Harness;
  let dns: Awaited<ReturnType<typeof startTestDns>>;

  beforeAll(async () => {
    dns = await startTestDns({
      'echo.default.svc.cluster.local': ['198.19.0.20'],
      'echo.team.svc.cluster.local': ['198.19.0.30'],
    });
    h = await startHarness({
      DNS_SERVERS: dns.address,
      AGENT_SESSION_TTL: '400ms',
      DNS_TIMEOUT: '1s',
      CLIENT_ROUTING_ALSO_PROXY_SUBNETS: '198.51.100.0/24',
      CLIENT_ROUTING_NEVER_PROXY_SUBNETS: '198.18.2.128/25',
      CLIENT_DNS_INCLUDE_SUFFIXES: '.internal',
    });
  });
  afterAll(async () => {
    await h.close();
    await dns.close();
  });

  it('answers Version', async () => {
    const v = await call(h.client, h.client.version, {});
    expect(v.info).toMatchObject({ name: 'traffic-manager', version: 'test' });
  });

  it('runs client sessions: arrive, remain, depart, and rejects unknown sessions clearly', async () => {
    const session = await arrive(h.client);
    expect(session.sessionId).not.toBe('');
    expect(session.clusterId).toBe('uid-of-default');
    await call(h.client, h.client.remain, { session });
    await call(h.client, h.client.depart, { session });
    const err = (await call(h.client, h.client.remain, { session }).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toMatch(/unknown.*arrive again/);
  });

  it('streams the cluster info at once, with discovered subnets and chart defaults', async () => {
    const session = await arrive(h.client);
    const stream = collect(h.client.watchClusterInfo({ session }));
    await stream.waitFor((items) =>
      items.some((i) => i.podSubnets.length === 2 && i.serviceSubnet !== undefined),
    );
    const info = stream.items.at(-1)!;
    expect(ipNets(info.podSubnets)).toEqual(['198.18.1.0/24', '198.18.2.0/24']);
    expect(ipNets([info.serviceSubnet!])).toEqual(['198.19.0.0/20']);
    expect(info.dns?.clusterDomain).toBe('cluster.local.');
    expect(info.dns?.excludeSuffixes).toEqual(['.com', '.io', '.net', '.org', '.ru']);
    expect(info.dns?.includeSuffixes).toEqual(['.internal']);
    expect(ipNets(info.routing!.alsoProxySubnets)).toEqual(['198.51.100.0/24']);
    expect(ipNets(info.routing!.neverProxySubnets)).toEqual(['198.18.2.128/25']);
    expect(info.routing!.allowConflictingSubnets).toEqual([]);
    expect([...info.managerPodIp].join('.')).toBe('198.18.1.10');
    expect(info.managerNamespace).toBe('ambassador');
    expect(h.api.services.size).toBe(0);
    // A new node shows up within the debounce time.
    h.api.nodes.set({ metadata: { name: 'node-3' }, spec: { podCIDRs: ['198.18.3.0/24'] } });
    await stream.waitFor((items) => ipNets(items.at(-1)!.podSubnets).includes('198.18.3.0/24'), 2000);
    h.api.nodes.delete('node-3');
    await stream.waitFor((items) => !ipNets(items.at(-1)!.podSubnets).includes('198.18.3.0/24'), 2000);
    await call(h.client, h.client.depart, { session });
    const end = await stream.ended;
    expect(end?.code).toBe(status.NOT_FOUND);
    expect(end?.details).toMatch(/departed/);
  });

  it('a slow WatchClusterInfo reader ends with the latest state (coalesced, last never dropped)', async () => {
    const session = await arrive(h.client);
    const call_ = h.client.watchClusterInfo({ session });
    const received: manager.ClusterInfo[] = [];
    call_.on('data', (m: manager.ClusterInfo) => received.push(m));
    call_.on('error', () => undefined); // the cancel below
    call_.pause();
    const many = Array.from({ length: 250 }, (_, i) => `198.${20 + Math.floor(i / 250)}.${i}.0/24`);
    for (let i = 1; i <= many.length; i++) h.manager.clusterInfo.setPodSubnets(many.slice(0, i));
    await new Promise((r) => setTimeout(r, 200));
    call_.resume();
    // Generous: the shared machine can be slow; the point is that the last state always arrives.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && received.at(-1)?.podSubnets.length !== many.length) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(received.at(-1)?.podSubnets).toHaveLength(many.length);
    expect(received.length).toBeLessThan(many.length);
    call_.cancel();
    h.manager.clusterInfo.setPodSubnets(['198.18.1.0/24', '198.18.2.0/24']);
    await call(h.client, h.client.depart, { session });
  }, 30_000);

  it('an expiring agent session ends its streams with a clear status', async () => {
    const res = await call(h.client, h.client.arriveAsAgent, {
      agent: {
        name: 'echo',
        namespace: 'default',
        podName: 'echo-1',
        podIp: Buffer.from([198, 18, 2, 5]),
        version: 't',
      },
    });
    const stream = collect(h.client.watchClusterInfo({ session: res.session }));
    const end = await stream.ended;
    expect(end?.code).toBe(status.NOT_FOUND);
    expect(end?.details).toMatch(/expired: no Remain .*TTL 0.4 s.*arrive again/);
  });

  describe('LookupDNS', () => {
    const lookup = async (
      session: manager.ArriveAsClientResponse['session'],
      name: string,
      type: number = QTYPE.A,
    ) => (await call(h.client, h.client.lookupDns, { session, question: { name, type } })).answer!;

    it.each([
      ['echo.default.svc.cluster.local.', 'default', '198.19.0.20'],
      ['echo.default.', 'default', '198.19.0.20'],
      ['echo.', 'default', '198.19.0.20'],
      ['echo.', 'team', '198.19.0.30'],
      ['echo.default.', 'team', '198.19.0.20'],
    ])('%s from namespace %s is %s', async (name, namespace, ip) => {
      const session = await arrive(h.client, namespace);
      const answer = await lookup(session, name);
      expect(answer.rcode).toBe(RCODE.NOERROR);
      expect(answer.records.map((r) => decodeRecord(r))).toEqual([
        expect.objectContaining({ type: 'A', data: ip, name: name.replace(/\.$/, ''), ttl: 4 }),
      ]);
    });

    it('answers NXDOMAIN for a name that does not exist', async () => {
      const session = await arrive(h.client);
      expect(await lookup(session, 'nope.default.svc.cluster.local.')).toEqual({
        rcode: RCODE.NXDOMAIN,
        records: [],
      });
    });

    it("asks the client's intercepting agents and returns the union of their records", async () => {
      const client = await arrive(h.client);
      const agents = await Promise.all(
        ['198.18.1.7', '198.18.2.7'].map(async (ip, i) => {
          const res = await call(h.client, h.client.arriveAsAgent, {
            agent: {
              name: 'web',
              namespace: 'default',
              podName: `web-${i}`,
              podIp: Buffer.from(ip.split('.').map(Number)),
              version: 't',
            },
          });
          const watch = h.client.watchLookupDns({ session: res.session });
          watch.on('data', (q: manager.AgentDNSQuery) => {
            const answer = { rcode: 0, records: [encodeA(q.question!.name, ip)] };
            void call(h.client, h.client.agentLookupDnsResponse, {
              session: res.session,
              queryId: q.queryId,
              answer,
            });
          });
          watch.on('error', () => undefined);
          return { res, watch };
        }),
      );
      await new Promise((r) => setTimeout(r, 100)); // the WatchLookupDNS streams register
      await call(h.client, h.client.createIntercept, {
        session: client,
        spec: {
          name: '',
          workload: 'web',
          namespace: '',
          servicePort: '80',
          localPort: 8080,
          localOnly: false,
        },
      });
      const answer = await lookup(client, 'web.');
      expect(answer.records.map((r) => (decodeRecord(r) as { data: string }).data).sort()).toEqual([
        '198.18.1.7',
        '198.18.2.7',
      ]);
      for (const a of agents) {
        a.watch.cancel();
        await call(h.client, h.client.depart, { session: a.res.session });
      }
      await call(h.client, h.client.depart, { session: client });
    });
  });

  describe('Tunnel', () => {
    let echo: Awaited<ReturnType<typeof startEcho>>;
    beforeAll(async () => {
      echo = await startEcho();
    });
    afterAll(() => new Promise<void>((resolve) => echo.server.close(() => resolve())));

    const readUntil = (stream: Awaited<ReturnType<typeof openTunnel>>, text: string) =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        stream.on('data', (c) => {
          got += c.toString();
          if (got.includes(text)) resolve(got);
        });
        stream.on('close', (end) =>
          reject(new Error(`stream closed (${end.reason}) after ${JSON.stringify(got)}`)),
        );
        stream.resume();
      });

    it('gives clients the HTTP/2 windows of the chart values (GRPC_STREAM_WINDOW, GRPC_CONNECTION_WINDOW)', async () => {
      const tuned = await startHarness({ GRPC_STREAM_WINDOW: '1Mi', GRPC_CONNECTION_WINDOW: '32Mi' });
      const session = http2.connect(`http://127.0.0.1:${tuned.manager.grpcPort}`);
      try {
        await new Promise<void>((resolve, reject) => {
          session.once('remoteSettings', () => resolve());
          session.once('error', reject);
        });
        expect(session.remoteSettings.initialWindowSize).toBe(1024 * 1024);
        // The connection window opens by a WINDOW_UPDATE right after SETTINGS, to where it starts; it
        // grows by BDP estimation up to GRPC_CONNECTION_WINDOW (libs/tunnel bdp.ts).
        const start = TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES;
        for (let i = 0; i < 100 && session.state.remoteWindowSize !== start; i++)
          await new Promise((r) => setTimeout(r, 10));
        expect(session.state.remoteWindowSize).toBe(start);
      } finally {
        session.destroy();
        await tuned.close();
      }
    });

    it('dials from the manager and carries bytes both ways', async () => {
      const session = await arrive(h.client);
      const id = ConnId.of('tcp', { ip: '198.18.0.1', port: 40000 }, { ip: '127.0.0.1', port: echo.port });
      const stream = await openTunnel(h.client, { id, sessionId: session.sessionId, dialTimeoutMs: 2000 });
      const reply = readUntil(stream, 'hello');
      expect(await stream.dialed).toEqual({ ok: true });
      stream.write(Buffer.from('hello'));
      const got = await reply;
      expect(got).toBe('from 127.0.0.1\nhello');
      stream.end();
      await stream.done;
      const metrics = await (await fetch(`http://127.0.0.1:${h.manager.metricsPort!}/metrics`)).text();
      expect(metrics).toMatch(/traffic_manager_dials_total\{result="ok"\} [1-9]/);
      expect(metrics).toMatch(/traffic_manager_tunnel_bytes_total\{direction="from_client"\} [1-9]/);
    });

    it('rejects a dial to a closed port with ECONNREFUSED', async () => {
      const session = await arrive(h.client);
      const id = ConnId.of(
        'tcp',
        { ip: '198.18.0.1', port: 40001 },
        { ip: '127.0.0.1', port: await closedPort() },
      );
      const stream = await openTunnel(h.client, { id, sessionId: session.sessionId, dialTimeoutMs: 2000 });
      stream.resume();
      expect(await stream.dialed).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
    });

    it("hands a client's flow to its intercepting agent through the dial rendezvous", async () => {
      const client = await arrive(h.client);
      const agent = (
        await call(h.client, h.client.arriveAsAgent, {
          agent: {
            name: 'api',
            namespace: 'default',
            podName: 'api-0',
            podIp: Buffer.from([198, 18, 2, 9]),
            version: 't',
          },
        })
      ).session!;
      const dials = h.client.watchDial({ session: agent });
      const dialed: string[] = [];
      dials.on('data', (req: DialRequest) => {
        const id = ConnId.fromBytes(req.connId);
        dialed.push(`${id.toString()} for ${req.sessionId}`);
        void openTunnel(h.client, {
          id,
          sessionId: agent.sessionId,
          dialTimeoutMs: req.dialTimeout / 1e6,
        }).then((s) => serveDialer(s));
      });
      dials.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      await call(h.client, h.client.createIntercept, {
        session: client,
        spec: {
          name: 'api',
          workload: 'api',
          namespace: 'default',
          servicePort: '80',
          localPort: 8080,
          localOnly: false,
        },
      });
      const id = ConnId.of('tcp', { ip: '198.18.0.1', port: 40002 }, { ip: '127.0.0.1', port: echo.port });
      const stream = await openTunnel(h.client, { id, sessionId: client.sessionId, dialTimeoutMs: 2000 });
      const reply = readUntil(stream, 'via agent');
      expect(await stream.dialed).toEqual({ ok: true });
      stream.write(Buffer.from('via agent'));
      expect(await reply).toContain('via agent');
      expect(dialed).toEqual([`${id.toString()} for ${client.sessionId}`]);
      stream.end();
      dials.cancel();
      await call(h.client, h.client.depart, { session: agent });
      await call(h.client, h.client.depart, { session: client });
    });

    it("routes an agent's inbound flow to its client through the client's WatchDial", async () => {
      const client = await arrive(h.client);
      const agent = (
        await call(h.client, h.client.arriveAsAgent, {
          agent: {
            name: 'inb',
            namespace: 'default',
            podName: 'inb-0',
            podIp: Buffer.from([198, 18, 2, 11]),
            version: 't',
          },
        })
      ).session!;
      // The client answers dial requests by opening a Tunnel with the same conn id and dialing locally.
      const dials = h.client.watchDial({ session: client });
      const requests: DialRequest[] = [];
      dials.on('data', (req: DialRequest) => {
        requests.push(req);
        void openTunnel(h.client, {
          id: ConnId.fromBytes(req.connId),
          sessionId: client.sessionId,
          dialTimeoutMs: req.dialTimeout / 1e6,
        }).then((s) => serveDialer(s));
      });
      dials.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      // The agent's intercepted connection: caller in the cluster -> the workstation's local port.
      const id = ConnId.of('tcp', { ip: '198.18.1.44', port: 50000 }, { ip: '127.0.0.1', port: echo.port });
      const stream = await openTunnel(h.client, { id, sessionId: agent.sessionId, dialTimeoutMs: 2000 });
      stream.sendSession(client.sessionId);
      const reply = readUntil(stream, 'inbound');
      expect(await stream.dialed).toEqual({ ok: true });
      stream.write(Buffer.from('inbound'));
      expect(await reply).toContain('inbound');
      expect(requests).toHaveLength(1);
      expect(requests[0]!.sessionId).toBe(client.sessionId);
      stream.end();
      dials.cancel();
      await call(h.client, h.client.depart, { session: agent });
      await call(h.client, h.client.depart, { session: client });
    });

    it('rejects an agent flow that names an unknown client', async () => {
      const agent = (
        await call(h.client, h.client.arriveAsAgent, {
          agent: {
            name: 'inb',
            namespace: 'default',
            podName: 'inb-1',
            podIp: Buffer.from([198, 18, 2, 12]),
            version: 't',
          },
        })
      ).session!;
      const id = ConnId.of('tcp', { ip: '198.18.1.45', port: 50001 }, { ip: '127.0.0.1', port: echo.port });
      const stream = await openTunnel(h.client, { id, sessionId: agent.sessionId, dialTimeoutMs: 2000 });
      stream.sendSession('no-such-client');
      stream.resume();
      expect(await stream.dialed).toMatchObject({ ok: false, reason: 'unknown-session' });
      await call(h.client, h.client.depart, { session: agent });
    });

    it('rejects a stream from an unknown session', async () => {
      const id = ConnId.of('tcp', { ip: '198.18.0.1', port: 40003 }, { ip: '127.0.0.1', port: echo.port });
      const stream = await openTunnel(h.client, { id, sessionId: 'nope', dialTimeoutMs: 2000 });
      stream.resume();
      expect(await stream.dialed).toMatchObject({ ok: false, reason: 'unknown-session' });
    });
  });

  it('serves /metrics with sessions, tunnels, dials and DNS lookups', async () => {
    const res = await fetch(`http://127.0.0.1:${h.manager.metricsPort!}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'traffic_manager_sessions{kind="client"}',
      'traffic_manager_tunnels_active',
      'traffic_manager_tunnel_bytes_total',
      'traffic_manager_dials_total',
      'traffic_manager_dns_lookups_total{result="nxdomain"}',
    ]) {
      expect(text).toContain(name);
    }
  });
});

function encodeA(name: string, ip: string): Buffer {
  return encodeRecord({ name: name.replace(/\.$/, ''), type: 'A', ttl: 4, class: 'IN', data: ip });
}
