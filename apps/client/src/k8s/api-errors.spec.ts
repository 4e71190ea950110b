import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { KubeConfig } from '@kubernetes/client-node';

import { explainNetworkCode, networkCode, unreachableApiServer } from './api-errors.js';
import { findManagerPod } from './port-forward.js';

const kubeConfig = (server: string): KubeConfig => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
};

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('unreachable API server messages', () => {
  it('connection refused: names the server, ECONNREFUSED, and what to check (real socket, client-node)', async () => {
    const server = `https://127.0.0.1:${await closedPort()}`;
    const err = (await findManagerPod(kubeConfig(server), 'ambassador').catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      `cannot reach the Kubernetes API server at ${server} (listing pods in namespace "ambassador"): connection refused (ECONNREFUSED)`,
    );
    expect((err as { hint?: string }).hint).toMatch(
      /is the cluster running.*server address in your kubeconfig/,
    );
    expect(err.message).not.toMatch(/fetch failed/);
  });

  it('an untrusted certificate: names the certificate problem (real TLS server, client-node)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'api-errors-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const srv = tls.createServer({
      key: readFileSync(path.join(dir, 'key.pem')),
      cert: readFileSync(path.join(dir, 'cert.pem')),
    });
    srv.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const server = `https://127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
      const err = (await findManagerPod(kubeConfig(server), 'ambassador').catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(
        new RegExp(
          `^cannot reach the Kubernetes API server at ${server.replace(/\./g, '\\.')} .*: its TLS certificate is not accepted \\(DEPTH_ZERO_SELF_SIGNED_CERT\\)$`,
        ),
      );
      expect((err as { hint?: string }).hint).toMatch(/certificate-authority/);
    } finally {
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a timeout: says so and what to check', () => {
    const e = new TypeError('fetch failed', {
      cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
    });
    const err = unreachableApiServer(e, 'https://198.19.255.1:6443', 'listing pods');
    expect(err?.message).toBe(
      'cannot reach the Kubernetes API server at https://198.19.255.1:6443 (listing pods): no answer in time (UND_ERR_CONNECT_TIMEOUT)',
    );
    expect(err?.hint).toMatch(/network path/);
  });

  it('leaves HTTP answers (no network code) to the caller', () => {
    expect(unreachableApiServer(new Error('HTTP 403'), 'https://x', 'listing pods')).toBeUndefined();
  });

  it.each([
    ['ENOTFOUND', /does not resolve/],
    ['EHOSTUNREACH', /no route/],
    ['ECONNRESET', /closed/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /certificate/],
  ])('explains %s', (code, want) => {
    expect(explainNetworkCode(code)?.cause).toMatch(want);
    expect(networkCode(new TypeError('fetch failed', { cause: { code } }))).toBe(code);
  });
});
