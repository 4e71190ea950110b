// Inbound intercepts, connection origin and DNS through agents, end to end over real gRPC on loopback:
// caller -> agent port -> Manager.Tunnel (SESSION) -> manager rendezvous -> client WatchDial/Tunnel ->
// local server on 127.0.0.1.
import { jest } from '@jest/globals';
import { randomBytes, createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';

import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';

import { encodeRecord } from '@telepresence/dns-core';
import type { RunningTrafficManager } from '@telepresence/traffic-manager';
import { ConnId, openTunnel, pumpSocket } from '@telepresence/tunnel';
import type { manager } from '@telepresence/rpc';

import {
  httpPort,
  listen,
  startManager,
  startTestAgent,
  startTestClient,
  until,
  type TestAgent,
  type TestClient,
} from './harness.js';

jest.setTimeout(60_000);

/** Sends payload, half-closes, and collects everything until the peer's FIN. */
function exchange(port: number, payload: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(chunks));
    });
    s.on('error', reject);
    s.end(payload);
  });
}

/** Local "workstation" server: answers with a tag and the sha256 of what it read, after the caller's FIN. */
function hashingServer(tag: string) {
  return listen((s: Socket) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    s.on('end', () => s.end(`${tag}:${n}:${h.digest('hex')}`));
    s.on('error', () => {});
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('traffic-agent with a real traffic-manager', () => {
  let mgr: RunningTrafficManager;
  let app: Awaited<ReturnType<typeof hashingServer>>;
  let local: Awaited<ReturnType<typeof hashingServer>>;
  let agent: TestAgent;
  let client: TestClient;

  beforeAll(async () => {
    mgr = await startManager();
    app = await hashingServer('app');
    local = await hashingServer('local');
    agent = await startTestAgent(mgr.grpcPort, { podName: 'echo-1', ports: [httpPort(app.port)] });
    await agent.agent.whenActive();
    client = await startTestClient(mgr.grpcPort);
  });

  afterAll(async () => {
    await client.close();
    await agent.close();
    await mgr.close();
    await app.close();
    await local.close();
  });

  const agentPort = () => agent.agent.listenPorts[0]!;

  async function intercept(spec: Partial<manager.InterceptSpec>, who = client): Promise<void> {
    await who.unary('createIntercept', {
      session: who.session,
      spec: {
        name: 'echo',
        workload: 'echo',
        namespace: 'default',
        servicePort: 'http',
        localPort: local.port,
        localOnly: false,
        ...spec,
      },
    });
  }
  async function leave(name = 'echo', who = client): Promise<void> {
    await who.unary('removeIntercept', { session: who.session, name });
    await until(() => agent.agent.table.size === 0, 5000, 'agent sees the intercept gone');
  }

  it('forwards to the app container when nobody intercepts', async () => {
    expect((await exchange(agentPort(), 'hello')).toString()).toBe(`app:5:${sha(Buffer.from('hello'))}`);
  });

  it('tunnels to the intercepting client with half-close, and back to the app after leave', async () => {
    await intercept({});
    await until(() => agent.agent.table.size === 1, 5000, 'agent sees the intercept');
    const payload = randomBytes(300_000);
    expect((await exchange(agentPort(), payload)).toString()).toBe(`local:${payload.length}:${sha(payload)}`);
    expect(client.dials.at(-1)).toMatch(
      new RegExp(`^tcp 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${local.port}$`),
    );
    await leave();
    expect((await exchange(agentPort(), 'x')).toString()).toMatch(/^app:1:/);
  });

  it('carries 200 concurrent connections intact', async () => {
    await intercept({});
    await until(() => agent.agent.table.size === 1);
    const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(1000 + i * 137));
    const answers = await Promise.all(payloads.map((p) => exchange(agentPort(), p)));
    answers.forEach((a, i) => expect(a.toString()).toBe(`local:${payloads[i]!.length}:${sha(payloads[i]!)}`));
    await leave();
  });

  it('carries a 50 MB upload intact with bounded buffering', async () => {
    await intercept({});
    await until(() => agent.agent.table.size === 1);
    const payload = randomBytes(50 * 1024 * 1024);
    expect((await exchange(agentPort(), payload)).toString()).toBe(`local:${payload.length}:${sha(payload)}`);
    await leave();
  });

  it('resets the in-cluster caller when the local port refuses (no hang)', async () => {
    const closed = await hashingServer('gone');
    await closed.close();
    await intercept({ localPort: closed.port });
    await until(() => agent.agent.table.size === 1);
    const started = Date.now();
    await expect(exchange(agentPort(), 'x')).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(Date.now() - started).toBeLessThan(5000);
    await leave();
  });

  it('originates the client outbound flows from the intercepted pod, not for local-only intercepts', async () => {
    const target = await hashingServer('target');
    const outbound = async (): Promise<string> => {
      const id = ConnId.of(
        'tcp',
        { ip: '127.0.0.1', port: 40000 + Math.floor(Math.random() * 1000) },
        { ip: '127.0.0.1', port: target.port },
      );
      const stream = await openTunnel(client.client, {
        id,
        sessionId: client.session.sessionId,
        dialTimeoutMs: 2000,
      });
      // The far end of a local socket pair plays the workstation app.
      const pair = await listen(() => {});
      const appSide = connect({ port: pair.port, host: '127.0.0.1', allowHalfOpen: true });
      const serverSide = await new Promise<Socket>((r) => pair.server.once('connection', r));
      void pumpSocket(stream, serverSide);
      const chunks: Buffer[] = [];
      appSide.on('data', (c: Buffer) => chunks.push(c));
      appSide.on('error', () => {});
      appSide.end();
      await new Promise<void>((r) => appSide.on('end', () => r()));
      await pair.close();
      return Buffer.concat(chunks).toString();
    };
    await intercept({ name: 'lo', localOnly: true });
    // local-only: the manager dials.
    const dialsBefore = agent.agent.stats.dials;
    await sendThenRead(outbound);
    expect(agent.agent.stats.dials).toBe(dialsBefore);
    // A real intercept: the agent dials.
    await intercept({});
    await until(() => agent.agent.table.size === 1);
    await sendThenRead(outbound);
    expect(agent.agent.stats.dials).toBe(dialsBefore + 1);
    await client.unary('removeIntercept', { session: client.session, name: 'lo' });
    await leave();
    await target.close();

    async function sendThenRead(fn: () => Promise<string>): Promise<void> {
      expect(await fn()).toMatch(/^target:0:/);
    }
  });

  it('asks every intercepting agent for DNS and answers the union of their IPs', async () => {
    const a = (ip: string) => ({
      rcode: 0,
      records: [encodeRecord({ name: 'db', type: 'A', ttl: 4, class: 'IN', data: ip } as Answer)],
    });
    const web = await startTestAgent(mgr.grpcPort, {
      podName: 'web-1',
      workload: 'web',
      ports: [httpPort(app.port)],
      resolve: () => Promise.resolve(a('198.19.0.21')),
    });
    const echo2 = await startTestAgent(mgr.grpcPort, {
      podName: 'echo2-1',
      workload: 'echo2',
      ports: [httpPort(app.port)],
      resolve: () => Promise.resolve(a('198.19.0.22')),
    });
    try {
      await Promise.all([web.agent.whenActive(), echo2.agent.whenActive()]);
      await intercept({ name: 'web', workload: 'web' });
      await intercept({ name: 'echo2', workload: 'echo2' });
      await until(() => web.agent.table.size === 1 && echo2.agent.table.size === 1);
      const res = await client.unary<unknown, manager.LookupDNSResponse>('lookupDns', {
        session: client.session,
        question: { name: 'db.', type: 1 },
      });
      const decode = (dnsPacket as unknown as { answer: { decode(b: Buffer): Answer } }).answer.decode;
      const ips = res.answer!.records.map((r) => (decode(Buffer.from(r)) as { data: string }).data).sort();
      expect(ips).toEqual(['198.19.0.21', '198.19.0.22']);
      expect(web.agent.stats.lookups + echo2.agent.stats.lookups).toBe(2);
    } finally {
      await client.unary('removeIntercept', { session: client.session, name: 'web' }).catch(() => {});
      await client.unary('removeIntercept', { session: client.session, name: 'echo2' }).catch(() => {});
      await web.close();
      await echo2.close();
    }
  });

  it('drops the intercepts of a client that departs', async () => {
    const other = await startTestClient(mgr.grpcPort);
    await intercept({ name: 'other' }, other);
    await until(() => agent.agent.table.size === 1);
    await other.close();
    await until(() => agent.agent.table.size === 0, 5000, 'intercept removed after depart');
    expect((await exchange(agentPort(), 'x')).toString()).toMatch(/^app:1:/);
  });
});
