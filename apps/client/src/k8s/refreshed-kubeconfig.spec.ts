import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CredentialRefresher } from './credential-refresher.js';
import type { ExecCredential } from './exec-credential.js';
import { obtainManagerToken } from './manager-token.js';
import { attachRefresher, isUnauthorized, reportUnauthorized } from './refreshed-kubeconfig.js';

/** The daemon's kubeconfig as the CLI makes it: one context, the token the plugin gave at connect. */
function cliKubeconfig(server: string, user: object): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'dev', ...user }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'dev' }],
    currentContext: 'ctx',
  });
  return kc;
}

function refresher(
  initial: ExecCredential,
  next: ExecCredential[],
  now?: () => number,
): CredentialRefresher & { runs: number } {
  const r = new CredentialRefresher(initial, {
    ...(now === undefined ? {} : { now }),
    fetch: async () => {
      r.runs++;
      const c = next.shift();
      if (c === undefined) throw new Error('no more');
      return c;
    },
  }) as CredentialRefresher & { runs: number };
  r.runs = 0;
  return r;
}

describe('the daemon kubeconfig with a refreshed exec credential', () => {
  it('sends the newest token on every request, never the static one the CLI put in', async () => {
    const kc = cliKubeconfig('https://k:6443', { token: 'one' });
    const r = refresher({ token: 'one' }, [{ token: 'two' }]);
    attachRefresher(kc, r);
    expect(kc.getCurrentUser()?.token).toBeUndefined();
    const auth = async () => {
      const o: { headers?: Record<string, string> } = {};
      await kc.applyToHTTPSOptions(o as never);
      return o.headers?.['Authorization'];
    };
    expect(await auth()).toBe('Bearer one');
    await r.refresh();
    expect(await auth()).toBe('Bearer two');
    r.close();
  });

  it('gives the traffic-manager the newest token too', async () => {
    const kc = cliKubeconfig('https://k:6443', { token: 'one' });
    const r = refresher({ token: 'one' }, [{ token: 'two' }]);
    attachRefresher(kc, r);
    const token = await obtainManagerToken(kc, 'ambassador', () => undefined);
    expect(token.source).toBe('user');
    expect(token.current()).toBe('one');
    await r.refresh();
    expect(token.current()).toBe('two');
    token.close();
    r.close();
  });

  it('uses a refreshed client certificate for new connections (a new https.Agent)', async () => {
    const kc = cliKubeconfig('https://k:6443', {});
    const r = refresher({ clientCertificateData: 'CERT1', clientKeyData: 'KEY1' }, [
      { clientCertificateData: 'CERT2', clientKeyData: 'KEY2' },
    ]);
    attachRefresher(kc, r);
    // client-node's private agent cache, which forgetAgents clears: fail here if client-node renames it.
    expect((kc as unknown as { agentCache: unknown }).agentCache).toBeInstanceOf(Map);
    const apply = async () => {
      const o: { cert?: unknown; agent?: { options: { cert?: unknown } } } = {};
      await kc.applyToHTTPSOptions(o as never);
      return o;
    };
    const first = await apply();
    expect(first.cert).toBe('CERT1');
    expect((await apply()).agent).toBe(first.agent); // same credential: the cached agent
    await r.refresh();
    const second = await apply();
    expect(second.cert).toBe('CERT2');
    expect(second.agent).not.toBe(first.agent);
    expect(second.agent?.options.cert).toBe('CERT2');
    r.close();
  });

  it('a 401 from the API server runs the plugin again, and the next request works', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== 'Bearer fresh') {
        res.statusCode = 401;
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: 'Unauthorized',
            code: 401,
          }),
        );
        return;
      }
      res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const kc = cliKubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
        token: 'stale',
      });
      let clock = 0;
      const r = refresher({ token: 'stale' }, [{ token: 'fresh' }], () => clock);
      clock = 60_000; // obtained long enough ago that a 401 is worth a run
      attachRefresher(kc, r);
      const core = kc.makeApiClient(CoreV1Api);
      const e = await core.listNamespace().catch((err: unknown) => err);
      expect(isUnauthorized(e)).toBe(true);
      reportUnauthorized(kc);
      await r.refresh(); // joins the run the report started
      expect(r.runs).toBe(1);
      expect((await core.listNamespace()).items).toEqual([]);
      expect(seen).toEqual(['Bearer stale', 'Bearer fresh']);
      r.close();
    } finally {
      server.close();
    }
  });

  it('recognises a 401 however it is reported', () => {
    expect(isUnauthorized({ code: 401 })).toBe(true);
    expect(
      isUnauthorized(new Error('the API server refused the port-forward: Unauthorized (HTTP 401)')),
    ).toBe(true);
    expect(isUnauthorized(new Error('wrapped', { cause: { code: 401 } }))).toBe(true);
    expect(isUnauthorized({ code: 403 })).toBe(false);
    expect(isUnauthorized(undefined)).toBe(false);
  });
});
