// The windows a real HTTP/2 peer sees from a tuned grpc-js server and a tuned grpc-js client. These also
// guard tuneTunnelServer's use of grpc-js internals: an upgrade that moves them fails here.
import { Server, ServerCredentials, credentials, type ServiceDefinition } from '@grpc/grpc-js';
import { ManagerService } from '@telepresence/rpc';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fastTunnelClient, withFastTunnelCodec } from './grpc-codec.js';
import type { GrpcTunnelClient } from '../calls.js';
import {
  TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES,
  TUNNEL_STREAM_WINDOW_BYTES,
  tuneTunnelServer,
  tunnelChannelOptions,
} from './flow-control.js';

const HTTP2_DEFAULT_WINDOW = 65_535;
const tunnelOnly = { tunnel: ManagerService.tunnel } as unknown as ServiceDefinition;
const Client = fastTunnelClient<GrpcTunnelClient & { close(): void }>(
  tunnelOnly,
  'telepresence.manager.v1.Manager',
);

async function grpcServer(tune: boolean): Promise<{ port: number; server: Server; tuned: boolean }> {
  const server = new Server();
  const tuned = tune && tuneTunnelServer(server);
  server.addService(withFastTunnelCodec(tunnelOnly), { tunnel: () => {} });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { port, server, tuned };
}

/** Polls until check() holds (a WINDOW_UPDATE follows the SETTINGS frame); fails after 5 s. */
async function eventually(check: () => boolean): Promise<void> {
  for (const until = Date.now() + 5000; !check();) {
    if (Date.now() > until) throw new Error('condition not reached in 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What an HTTP/2 client sees of a server's receive windows. */
async function windowsOfServer(port: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    const stream = session.remoteSettings.initialWindowSize ?? HTTP2_DEFAULT_WINDOW;
    // The connection window grows by WINDOW_UPDATE, a moment after SETTINGS; give it that moment.
    await new Promise((r) => setTimeout(r, 100));
    return { stream, connection: session.state.remoteWindowSize ?? HTTP2_DEFAULT_WINDOW };
  } finally {
    session.destroy();
  }
}

describe('tunnel flow-control windows', () => {
  it('a tuned grpc-js server advertises the stream window and opens the connection window', async () => {
    const tuned = await grpcServer(true);
    const plain = await grpcServer(false);
    try {
      expect(tuned.tuned).toBe(true);
      expect(await windowsOfServer(tuned.port)).toEqual({
        stream: TUNNEL_STREAM_WINDOW_BYTES,
        connection: TUNNEL_INITIAL_CONNECTION_WINDOW_BYTES, // grows by BDP up to the configured window
      });
      // The same check on grpc-js's defaults: the assertion above is about our change.
      expect(await windowsOfServer(plain.port)).toEqual({
        stream: HTTP2_DEFAULT_WINDOW,
        connection: HTTP2_DEFAULT_WINDOW,
      });
    } finally {
      tuned.server.forceShutdown();
      plain.server.forceShutdown();
    }
  });

  it('a grpc-js client with tunnelChannelOptions advertises its window to the server', async () => {
    const server = http2.createServer();
    const sessions: http2.ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    server.on('stream', (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc' }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), tunnelChannelOptions());
    try {
      const call = client.tunnel();
      call.on('error', () => {});
      await eventually(
        () =>
          sessions[0]?.remoteSettings.initialWindowSize === TUNNEL_STREAM_WINDOW_BYTES &&
          sessions[0].state.remoteWindowSize === TUNNEL_STREAM_WINDOW_BYTES,
      );
      call.cancel();
    } finally {
      client.close();
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('rejects a window HTTP/2 cannot have, before touching the server', () => {
    const server = new Server();
    expect(() => tuneTunnelServer(server, { streamWindowBytes: 1000 })).toThrow(/from 65535/);
    expect(() => tuneTunnelServer(server, { connectionWindowBytes: 2 ** 31 })).toThrow(
      /connectionWindowBytes/,
    );
    expect(() => tunnelChannelOptions(1.5e6 + 0.5)).toThrow(/integer/);
    const common = (server as unknown as { commonServerOptions: http2.ServerOptions }).commonServerOptions;
    expect(common.settings?.initialWindowSize).toBeUndefined();
  });
});
