import * as grpc from '@grpc/grpc-js';
import { ManagerClient, ManagerService, manager, type ManagerServer } from './index.js';

// The generated service definitions must work over a real HTTP/2 connection, not just compile.
describe('generated Manager service', () => {
  let server: grpc.Server;
  let client: ManagerClient;

  beforeAll(async () => {
    server = new grpc.Server();
    const impl: Partial<ManagerServer> = {
      version: (_call, cb) =>
        cb(null, { info: { name: 'traffic-manager', version: 'test', tunnelVersion: 3 } }),
      watchClusterInfo: (call) => {
        call.write(manager.ClusterInfo.fromPartial({ managerNamespace: 'ambassador', managerPodPort: 8081 }));
        call.end();
      },
    };
    server.addService(ManagerService, impl as ManagerServer);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new ManagerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it('answers a unary call', async () => {
    const res = await new Promise<manager.VersionResponse>((resolve, reject) =>
      client.version({}, (err, r) => (err ? reject(err) : resolve(r))),
    );
    expect(res.info).toEqual({ name: 'traffic-manager', version: 'test', tunnelVersion: 3 });
  });

  it('streams server messages', async () => {
    const got: manager.ClusterInfo[] = [];
    const call = client.watchClusterInfo({ session: { sessionId: 's1', clusterId: '' } });
    for await (const msg of call) got.push(msg as manager.ClusterInfo);
    expect(got).toHaveLength(1);
    expect(got[0]?.managerNamespace).toBe('ambassador');
    expect(got[0]?.managerPodPort).toBe(8081);
  });

  it('round-trips bytes fields through the codec', () => {
    const info = manager.ClusterInfo.fromPartial({
      serviceSubnet: { ip: Buffer.from([198, 19, 0, 0]), mask: 20 },
      podSubnets: [{ ip: Buffer.from([198, 18, 1, 0]), mask: 24 }],
    });
    const back = manager.ClusterInfo.decode(manager.ClusterInfo.encode(info).finish());
    expect([...(back.serviceSubnet?.ip ?? [])]).toEqual([198, 19, 0, 0]);
    expect(back.podSubnets[0]?.mask).toBe(24);
  });
});
