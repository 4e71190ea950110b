import * as grpc from '@grpc/grpc-js';
import { ManagerClient, ManagerService, bearerInterceptor, type ManagerServer } from './index.js';

// The bearer interceptor over a real HTTP/2 connection: the newest token goes with each call, and a
// refused one (UNAUTHENTICATED) is reported so that its owner can refresh it.
describe('bearerInterceptor', () => {
  let server: grpc.Server;
  let port: number;
  const seen: string[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    const impl: Partial<ManagerServer> = {
      version: (call, cb) => {
        const auth = String(call.metadata.get('authorization')[0] ?? '');
        seen.push(auth);
        if (auth !== 'Bearer good') cb({ code: grpc.status.UNAUTHENTICATED, details: 'token refused' });
        else cb(null, { info: { name: 'traffic-manager', version: 'test', tunnelVersion: 3 } });
      },
    };
    server.addService(ManagerService, impl as ManagerServer);
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  afterAll(() => server.forceShutdown());

  it('sends the current token and reports UNAUTHENTICATED calls only', async () => {
    let token = 'stale';
    let rejected = 0;
    const client = new ManagerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      interceptors: [
        bearerInterceptor(
          () => token,
          () => rejected++,
        ),
      ],
    });
    const version = () =>
      new Promise<grpc.ServiceError | null>((resolve) => client.version({}, (err) => resolve(err)));
    expect((await version())?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(rejected).toBe(1);
    token = 'good';
    expect(await version()).toBeNull();
    expect(rejected).toBe(1);
    expect(seen).toEqual(['Bearer stale', 'Bearer good']);
    client.close();
  });
});
