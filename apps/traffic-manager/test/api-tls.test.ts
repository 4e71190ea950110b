// The TLS port of the gRPC API: clients that trust the published CA reach it, others do not; the serving
// certificate and the CA are renewed, and new connections get the new certificate.
import tls from 'node:tls';

import { Metadata, Server, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';

import { ManagerClient, ManagerService } from '@telepresence/rpc';

import { startApiTls } from '../src/auth/api-tls.js';
import { createCa } from '../src/injector/certs.js';
import { startHarness } from './harness.js';

const NAME = 'traffic-manager.ambassador';

function version(client: ManagerClient): Promise<unknown> {
  return new Promise((resolve, reject) =>
    client.version({}, new Metadata(), { deadline: Date.now() + 5000 }, (e: ServiceError | null, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
}

function tlsClient(port: number, caPem: string): ManagerClient {
  return new ManagerClient(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(caPem)), {
    'grpc.ssl_target_name_override': NAME,
    'grpc.default_authority': NAME,
  });
}

/**
 * The serial number of the certificate a new TLS connection is served (not verified: the test's clock runs
 * ahead of the real one, so renewed certificates are "not yet valid"; the test above verifies).
 */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, servername: NAME, ALPNProtocols: ['h2'] },
      () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.destroy();
      },
    );
    s.on('error', reject);
  });
}

describe('the TLS port of the gRPC API', () => {
  it('serves clients that verify with the published CA, and only them', async () => {
    const published: string[] = [];
    const h = await startHarness(
      {},
      { apiTls: { port: 0, publish: async (pem) => void published.push(pem) } },
    );
    try {
      expect(h.manager.tls).toBeDefined();
      expect(published).toHaveLength(1);
      expect(published[0]).toBe(h.manager.tls!.certs.caBundle());
      const good = tlsClient(h.manager.tls!.port, published[0]!);
      expect(await version(good)).toMatchObject({ info: { name: 'traffic-manager' } });
      good.close();
      const other = createCa('someone else', 3_600_000);
      const bad = tlsClient(h.manager.tls!.port, other.certPem);
      const e = (await version(bad).catch((err: unknown) => err)) as ServiceError;
      expect(e.code).toBe(status.UNAVAILABLE);
      bad.close();
    } finally {
      await h.close();
    }
  });

  it('renews the serving certificate and the CA; new connections get the new certificate', async () => {
    let t = Date.now();
    const published: string[] = [];
    const certs = await startApiTls({
      namespace: 'ambassador',
      serviceName: 'traffic-manager',
      clusterDomain: 'cluster.local',
      publish: async (pem) => void published.push(pem),
      log: pino({ level: 'silent' }),
      caValidityMs: 9 * 3_600_000,
      certValidityMs: 3_600_000,
      checkIntervalMs: 3_600_000,
      now: () => t,
    });
    const server = new Server();
    server.addService(ManagerService, {});
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', certs.credentials, (e, p) => (e ? reject(e) : resolve(p))),
    );
    try {
      const first = await servedSerial(port);
      t += 50 * 60_000; // past 2/3 of the certificate's life
      await certs.rotateIfDue();
      const second = await servedSerial(port);
      expect(second).not.toBe(first);
      const firstCa = certs.caBundle();
      t += 7 * 3_600_000; // past 2/3 of the CA's life
      await certs.rotateIfDue();
      expect(certs.caBundle()).not.toBe(firstCa);
      expect(certs.caBundle().startsWith(firstCa)).toBe(false);
      expect(certs.caBundle()).toContain(firstCa.trim()); // the old CA still trusted for a while
      expect(published.at(-1)).toBe(certs.caBundle());
      const third = await servedSerial(port);
      expect(third).not.toBe(second);
    } finally {
      certs.close();
      server.forceShutdown();
    }
  });
});
