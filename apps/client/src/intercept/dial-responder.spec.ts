import net from 'node:net';
import { pino } from 'pino';
import type { common } from '@telepresence/rpc';
import { ConnId, type TunnelClient, type TunnelStream } from '@telepresence/tunnel';
import { acceptStream, memoryChannelPair } from '@telepresence/tunnel/testing';
import type { SessionInfo } from '../manager/manager-api.js';
import { until } from '../testing/fake-manager-api.js';
import { startDialResponder } from './dial-responder.js';

const log = pino({ level: 'silent' });

/** The manager's side: WatchDial streams the test feeds, and the Tunnel calls the responder opens. */
function fakeManager() {
  const watches: { session: string; send: (r: common.DialRequest) => void; end: () => void }[] = [];
  const accepted: Promise<TunnelStream>[] = [];
  const tunnels = {
    openChannel: () => {
      const [a, b] = memoryChannelPair();
      accepted.push(acceptStream(b));
      return a;
    },
  } as unknown as TunnelClient;
  const api = {
    tunnels,
    watchDial(session: SessionInfo, signal: AbortSignal): AsyncIterable<common.DialRequest> {
      const queue: (common.DialRequest | 'end')[] = [];
      let wake = (): void => {};
      watches.push({
        session: session.sessionId,
        send: (r) => (queue.push(r), wake()),
        end: () => (queue.push('end'), wake()),
      });
      signal.addEventListener('abort', () => wake());
      return {
        async *[Symbol.asyncIterator]() {
          while (!signal.aborted) {
            const item = queue.shift();
            if (item === 'end') return;
            if (item !== undefined) yield item;
            else await new Promise<void>((r) => (wake = r));
          }
        },
      };
    },
  };
  return { api, watches, accepted };
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function request(localPort: number): common.DialRequest {
  const id = ConnId.of('tcp', { ip: '198.18.0.7', port: 40000 }, { ip: '127.0.0.1', port: localPort });
  return { connId: Buffer.from(id.toBytes()), dialTimeout: 2e9, roundtripLatency: 0, sessionId: 'agent-1' };
}

describe('dial responder', () => {
  it('answers a dial request with the local port: accepted, refused, or a bad conn id', async () => {
    const m = fakeManager();
    let session: SessionInfo | undefined = { sessionId: 's1', clusterId: 'c' };
    const responder = startDialResponder({ api: m.api, session: () => session, log });
    await until(() => m.watches.length === 1);

    const local = net.createServer((s) => s.on('error', () => undefined).resume()); // a reset ends each flow
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      m.watches[0]?.send(request((local.address() as net.AddressInfo).port));
      await until(() => m.accepted.length === 1);
      const open = await m.accepted[0]!;
      expect(open.sessionId).toBe('s1');
      expect(await open.dialed).toEqual({ ok: true });
      open.disconnect('test done');
      await until(() => responder.stats.dialed === 1);

      m.watches[0]?.send(request(await closedPort()));
      await until(() => m.accepted.length === 2);
      const refused = await m.accepted[1]!;
      expect(await refused.dialed).toMatchObject({ ok: false, reason: 'ECONNREFUSED' });
      await until(() => responder.stats.rejected === 1);

      m.watches[0]?.send({ ...request(1), connId: Buffer.from([1, 2, 3]) });
      await until(() => responder.stats.requests === 3);
      expect(m.accepted).toHaveLength(2); // a bad conn id opens nothing
    } finally {
      responder.stop();
      local.close();
      session = undefined;
    }
  });

  it('watches again with the current session after the stream ends, until stopped', async () => {
    const m = fakeManager();
    let session: SessionInfo | undefined = { sessionId: 's1', clusterId: 'c' };
    const responder = startDialResponder({
      api: m.api,
      session: () => session,
      log,
      backoff: { initialMs: 1, jitter: 0 },
    });
    await until(() => m.watches.length === 1);
    session = { sessionId: 's2', clusterId: 'c' };
    m.watches[0]?.end();
    await until(() => m.watches.length === 2);
    expect(m.watches[1]?.session).toBe('s2');
    responder.stop();
    m.watches[1]?.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(m.watches).toHaveLength(2);
  });
});
