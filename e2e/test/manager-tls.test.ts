// The manager's TLS port with the client's own connection code (`connect --manager-address https://...`):
// calls and tunnels verify the manager with the CA it publishes; a client trusting another CA gets nowhere.
// In-process manager on 127.0.0.1, no cluster needed.
import { createServer, type AddressInfo, type Server } from 'node:net';

import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';

import { createManagerClient, createTunnelClient } from '@telepresence/client';
import type { ManagerClient } from '@telepresence/rpc';
import { FakeClusterApi, fakeNode } from '@telepresence/traffic-manager/testing';
import {
  parseConfig,
  startTrafficManager,
  subnetMath,
  type RunningTrafficManager,
} from '@telepresence/traffic-manager';
import { ConnId, openTunnel } from '@telepresence/tunnel';

const version = (c: ManagerClient): Promise<unknown> =>
  new Promise((resolve, reject) =>
    c.version({}, new Metadata(), { deadline: Date.now() + 5000 }, (e: ServiceError | null, r) =>
      e ? reject(e) : resolve(r),
    ),
  );

describe('the TLS port of the traffic-manager, with the client connection code', () => {
  let manager: RunningTrafficManager;
  let ca = '';
  let echo: Server;
  let echoPort: number;

  beforeAll(async () => {
    const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
    api.nodes.set(fakeNode('node-1', '198.18.1.0/24'));
    manager = await startTrafficManager(
      {
        config: parseConfig(
          { POD_IP: '198.18.1.10', POD_NAMESPACE: 'ambassador', SERVER_HOST: '127.0.0.1', SERVER_PORT: '0' },
          subnetMath,
        ),
        log: pino({ level: 'silent' }),
        api,
        subnets: subnetMath,
        resolvConf: { nameservers: [], search: [], ndots: 5 },
        version: 'e2e',
        defaultMetrics: false,
        clusterId: 'e2e',
        apiTls: { port: 0, publish: async (pem) => void (ca = pem) },
      },
      { metricsEnabled: false },
    );
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await manager.close();
    echo.close();
  });

  it('calls and tunnels go over TLS verified with the published CA', async () => {
    const address = `127.0.0.1:${manager.tls!.port}`;
    const tls = { ca, servername: 'traffic-manager.ambassador' };
    const client = createManagerClient(address, undefined, tls);
    const tunnels = createTunnelClient(address, undefined, tls);
    try {
      expect(await version(client)).toMatchObject({ info: { name: 'traffic-manager' } });
      const session = await new Promise<string>((resolve, reject) =>
        client.arriveAsClient(
          { client: { name: 'e2e', namespace: 'default', installId: 'e2e', version: 'e2e' } },
          (e: ServiceError | null, r) => (e ? reject(e) : resolve(r.session!.sessionId)),
        ),
      );
      const stream = await openTunnel(tunnels, {
        id: ConnId.of('tcp', { ip: '198.18.0.1', port: 40000 }, { ip: '127.0.0.1', port: echoPort }),
        sessionId: session,
        dialTimeoutMs: 3000,
      });
      const got = new Promise<string>((resolve) => stream.on('data', (c: Buffer) => resolve(c.toString())));
      stream.resume();
      expect(await stream.dialed).toEqual({ ok: true });
      stream.write(Buffer.from('over tls'));
      expect(await got).toBe('over tls');
      stream.end();
    } finally {
      client.close();
      tunnels.close();
    }
  });

  it('a client that expects another name is refused, on calls and on tunnels (another CA: traffic-manager test/api-tls.test.ts)', async () => {
    const address = `127.0.0.1:${manager.tls!.port}`;
    const wrongName = createManagerClient(address, undefined, { ca, servername: 'someone-else.example' });
    await expect(version(wrongName)).rejects.toMatchObject({ code: 14 });
    wrongName.close();
    const tunnels = createTunnelClient(address, undefined, { ca, servername: 'someone-else.example' });
    await expect(
      openTunnel(tunnels, {
        id: ConnId.of('tcp', { ip: '198.18.0.1', port: 40000 }, { ip: '127.0.0.1', port: echoPort }),
        sessionId: 'x',
        dialTimeoutMs: 1000,
      }).then((s) => s.dialed),
    ).rejects.toThrow(/altnames|certificate|Hostname/i);
    tunnels.close();
  });
});
