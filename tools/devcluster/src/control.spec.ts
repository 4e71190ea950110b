import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Store } from './api/store.js';
import { controlRequest, parseControlRequest, serveControl } from './control.js';
import { NodeError, NodeManager, type NodeInfo } from './nodes.js';

describe('parseControlRequest', () => {
  it('maps the node operations', () => {
    expect(parseControlRequest('GET', '/nodes', '')).toEqual({ op: 'list' });
    expect(parseControlRequest('POST', '/nodes', '')).toEqual({ op: 'add' });
    expect(parseControlRequest('POST', '/nodes', '{"name":"gpu"}')).toEqual({ op: 'add', name: 'gpu' });
    expect(parseControlRequest('DELETE', '/nodes/node-3', '')).toEqual({ op: 'remove', name: 'node-3' });
  });

  it('explains bad requests', () => {
    expect(parseControlRequest('POST', '/nodes', '{')).toEqual(
      new NodeError('the request body is not JSON', 400),
    );
    expect(parseControlRequest('POST', '/nodes', '{"name":3}')).toMatchObject({ status: 400 });
    expect(parseControlRequest('POST', '/nodes', '[]')).toMatchObject({ status: 400 });
    expect(parseControlRequest('PUT', '/pods', '')).toMatchObject({ status: 404 });
  });
});

describe('control socket', () => {
  let dir: string;
  let server: http.Server;
  let socket: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dc-control-'));
    socket = path.join(dir, 'control.sock');
    const nodes = new NodeManager({
      store: new Store(),
      network: { createBridge: () => Promise.resolve(), deleteBridge: () => Promise.resolve() },
      makeKubelet: () => ({
        start: () => undefined,
        close: () => Promise.resolve(),
        logFile: () => undefined,
      }),
      deletePod: () => undefined,
      log: () => undefined,
    });
    server = await serveControl(socket, nodes, () => undefined);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is owner-only', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('adds, lists and removes nodes; errors carry the server text', async () => {
    const added = await controlRequest<NodeInfo>(socket, 'POST', '/nodes', {});
    expect(added).toEqual({ name: 'node-1', index: 1, podCIDR: '198.18.1.0/24', address: '198.18.1.1' });
    await controlRequest(socket, 'POST', '/nodes', { name: 'gpu' });
    expect((await controlRequest<NodeInfo[]>(socket, 'GET', '/nodes')).map((n) => n.name)).toEqual([
      'node-1',
      'gpu',
    ]);
    await expect(controlRequest(socket, 'POST', '/nodes', { name: 'gpu' })).rejects.toThrow(
      'node "gpu" already exists',
    );
    expect(await controlRequest<NodeInfo>(socket, 'DELETE', '/nodes/gpu')).toMatchObject({ index: 2 });
    await expect(controlRequest(socket, 'DELETE', '/nodes/gpu')).rejects.toThrow('node "gpu" not found');
  });
});
