import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

import { memoryLogger } from '@telepresence/tunnel';
import { manager } from '@telepresence/rpc';

import type { InterceptPort } from './config.js';
import { InterceptTable } from './intercept-table.js';
import { fromTunnelLogger } from './log.js';
import { PortForwarder } from './port-forwarder.js';

/** An app that answers "app:" + what it read, after the caller half-closes. */
async function startApp(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(`app:${Buffer.concat(chunks).toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function exchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(chunks).toString());
    });
    s.on('error', reject);
    s.end(payload); // half-close: the answer comes after our FIN
  });
}

function portOf(containerPort: number): InterceptPort {
  return {
    serviceName: 'echo',
    servicePortName: 'http',
    servicePort: 80,
    targetPortName: 'http',
    containerPort,
    agentPort: 0,
    redirect: false,
  };
}

describe('PortForwarder', () => {
  let app: { server: Server; port: number };
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(async () => {
    await new Promise((r) => app.server.close(r));
  });

  it('forwards to the app with half-close when not intercepted', async () => {
    const port = portOf(app.port);
    const fwd = new PortForwarder({
      port,
      appHost: '127.0.0.1',
      table: new InterceptTable([port]),
      onIntercepted: () => {
        throw new Error('not intercepted');
      },
      log: fromTunnelLogger(memoryLogger()),
      listenHost: '127.0.0.1',
    });
    const p = await fwd.listen();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => exchange(p, `hello ${i}`)));
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `app:hello ${i}`));
    expect(fwd.stats).toMatchObject({ toApp: 50, intercepted: 0 });
    await fwd.close();
  });

  it('hands connections to the intercept handler while intercepted (decided per connection)', async () => {
    const port = { ...portOf(app.port) };
    const table = new InterceptTable([port]);
    const handled: string[] = [];
    const fwd = new PortForwarder({
      port,
      appHost: '127.0.0.1',
      table,
      onIntercepted: (i, caller: Socket) => {
        handled.push(i.clientSessionId);
        caller.resume();
        caller.on('end', () => caller.end('intercepted'));
      },
      log: fromTunnelLogger(memoryLogger()),
      listenHost: '127.0.0.1',
    });
    const p = await fwd.listen();
    // The table matches on the configured agent port (0 here), which is what the forwarder looks up.
    table.update([
      manager.InterceptInfo.fromPartial({
        id: 'c1:echo',
        clientSessionId: 'c1',
        state: manager.InterceptState.INTERCEPT_STATE_ACTIVE,
        spec: { name: 'echo', workload: 'echo', servicePort: 'http', localPort: 8080 },
      }),
    ]);
    expect(await exchange(p, 'x')).toBe('intercepted');
    table.clear();
    expect(await exchange(p, 'y')).toBe('app:y');
    expect(handled).toEqual(['c1']);
    await fwd.close();
  });

  it('resets the caller when the app container does not listen', async () => {
    const closed = await startApp();
    await new Promise((r) => closed.server.close(r));
    const port = portOf(closed.port);
    const fwd = new PortForwarder({
      port,
      appHost: '127.0.0.1',
      table: new InterceptTable([port]),
      onIntercepted: () => {},
      log: fromTunnelLogger(memoryLogger()),
      listenHost: '127.0.0.1',
    });
    const p = await fwd.listen();
    await expect(exchange(p, 'x')).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(fwd.stats.appFailures).toBe(1);
    await fwd.close();
  });

  it('says which port is taken', async () => {
    const port = { ...portOf(app.port), agentPort: app.port };
    const fwd = new PortForwarder({
      port,
      appHost: '127.0.0.1',
      table: new InterceptTable([port]),
      onIntercepted: () => {},
      log: fromTunnelLogger(memoryLogger()),
      listenHost: '127.0.0.1',
    });
    await expect(fwd.listen()).rejects.toThrow(`cannot listen on agent port ${app.port}`);
  });
});
