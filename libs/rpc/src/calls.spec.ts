import * as grpc from '@grpc/grpc-js';
import {
  ManagerClient,
  ManagerService,
  manager,
  serverStream,
  unaryCall,
  type ManagerServer,
} from './index.js';

// The call helpers over a real HTTP/2 connection: metadata reaches the server, aborting cancels.
describe('unaryCall and serverStream', () => {
  let server: grpc.Server;
  let client: ManagerClient;
  const seenTokens: string[] = [];
  let remainCalls: grpc.ServerUnaryCall<unknown, unknown>[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    const impl: Partial<ManagerServer> = {
      version: (call, cb) => {
        seenTokens.push(String(call.metadata.get('authorization')[0] ?? ''));
        cb(null, { info: { name: 'traffic-manager', version: 'test', tunnelVersion: 3 } });
      },
      remain: (call) => void remainCalls.push(call), // never answers
      watchClusterInfo: (call) => {
        call.write(manager.ClusterInfo.fromPartial({ managerNamespace: 'ambassador' }));
        // stays open
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
    remainCalls = [];
  });

  it('sends the metadata of the provider with a unary call', async () => {
    const metadata = (): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', 'Bearer t1');
      return m;
    };
    const res = await unaryCall<manager.VersionRequest, manager.VersionResponse>(
      client,
      client.version,
      {},
      { timeoutMs: 5000, metadata },
    );
    expect(res.info?.version).toBe('test');
    expect(seenTokens).toEqual(['Bearer t1']);
  });

  it('cancels a unary call when the signal aborts', async () => {
    const ctl = new AbortController();
    const pending = unaryCall(
      client,
      client.remain,
      { session: { sessionId: 's', clusterId: '' } },
      {
        timeoutMs: 60_000,
        signal: ctl.signal,
      },
    );
    while (remainCalls.length === 0) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ code: grpc.status.CANCELLED });
  });

  it('ends a server stream quietly when the signal aborts', async () => {
    const ctl = new AbortController();
    const got: string[] = [];
    for await (const ci of serverStream<manager.ClusterInfo>(
      (meta) => client.watchClusterInfo({ session: { sessionId: 's', clusterId: '' } }, meta),
      ctl.signal,
    )) {
      got.push(ci.managerNamespace);
      ctl.abort();
    }
    expect(got).toEqual(['ambassador']);
  });
});
