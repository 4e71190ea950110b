// The supervisor's control socket (/run/devcluster/<name>/control.sock, owner-only): operations on the
// running cluster that are not Kubernetes API calls, such as adding and removing nodes. HTTP with JSON
// bodies over a unix socket:
//   GET    /nodes          -> NodeInfo[]
//   POST   /nodes          {"name"?: string} -> 201 NodeInfo
//   DELETE /nodes/<name>   -> NodeInfo
// Errors answer {"error": message} with a 4xx/5xx status.
import { chmod, rm } from 'node:fs/promises';
import http from 'node:http';
import { NodeError, type NodeInfo, type NodeManager } from './nodes.js';

export type ControlRequest =
  | { readonly op: 'list' }
  | { readonly op: 'add'; readonly name?: string }
  | { readonly op: 'remove'; readonly name: string };

/** Maps method, path and body to an operation, or explains what is wrong. */
export function parseControlRequest(method: string, url: string, body: string): ControlRequest | NodeError {
  const path = url.split('?')[0] ?? '';
  if (path === '/nodes' && method === 'GET') return { op: 'list' };
  if (path === '/nodes' && method === 'POST') {
    let parsed: unknown = {};
    try {
      parsed = body.trim() === '' ? {} : JSON.parse(body);
    } catch {
      return new NodeError('the request body is not JSON', 400);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return new NodeError('the request body must be a JSON object', 400);
    const name = (parsed as Record<string, unknown>)['name'];
    if (name === undefined) return { op: 'add' };
    if (typeof name !== 'string') return new NodeError('"name" must be a string', 400);
    return { op: 'add', name };
  }
  const m = /^\/nodes\/([^/]+)$/.exec(path);
  if (m && method === 'DELETE') return { op: 'remove', name: decodeURIComponent(m[1] ?? '') };
  return new NodeError(`no such operation: ${method} ${path}`, 404);
}

export async function serveControl(
  socketPath: string,
  nodes: NodeManager,
  log: (msg: string) => void,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const request = parseControlRequest(req.method ?? 'GET', req.url ?? '/', body);
      if (request instanceof NodeError) return reply(request.status, { error: request.message });
      const run = async (): Promise<[number, unknown]> => {
        switch (request.op) {
          case 'list':
            return [200, nodes.list()];
          case 'add':
            return [201, await nodes.add(request.name === undefined ? {} : { name: request.name })];
          case 'remove':
            return [200, await nodes.remove(request.name)];
        }
      };
      run().then(
        ([status, value]) => reply(status, value),
        (err: unknown) => {
          const status = err instanceof NodeError ? err.status : 500;
          if (status === 500) log(`control ${req.method ?? ''} ${req.url ?? ''}: ${(err as Error).stack}`);
          reply(status, { error: (err as Error).message });
        },
      );
    });
  });
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
  return server;
}

/** Sends one request to a supervisor's control socket; rejects with the server's error text. */
export function controlRequest<T>(
  socketPath: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            return reject(new Error(`bad answer from ${socketPath}: ${text.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 500) >= 400) {
            const error = (value as { error?: unknown } | null)?.error;
            return reject(new Error(typeof error === 'string' ? error : `status ${res.statusCode}`));
          }
          resolve(value as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${socketPath} in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export type { NodeInfo };
