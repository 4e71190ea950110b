import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { daemon } from '@telepresence/rpc';
import { pino } from 'pino';
import { credentialStatus, execPluginMessage, startExecRefresh } from './exec-refresh.js';
import { execPluginSpec } from './exec-credential.js';

const V1 = 'client.authentication.k8s.io/v1';
const log = pino({ level: 'silent' });

function daemonKubeconfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://k:6443', skipTLSVerify: false }],
    users: [{ name: 'dev', token: 'from-cli' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'dev' }],
    currentContext: 'ctx',
  });
  return kc;
}
const bearer = async (kc: KubeConfig) => {
  const o: { headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(o as never);
  return o.headers?.['Authorization'];
};

describe('the daemon side of an exec plugin', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'exec-refresh-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const plugin = (name: string, body: string): daemon.ExecPlugin => {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    const spec = execPluginSpec({ apiVersion: V1, command: file, interactiveMode: 'Never' }, 'dev');
    return execPluginMessage(spec, { PATH: '/usr/bin:/bin', GREETING: 'hi' }, dir, {
      token: 'from-cli',
      expiresAt: Date.parse('2030-01-01T00:00:00Z'),
    });
  };

  it('carries the plugin, the environment, the directory and the expiry to the daemon', () => {
    const m = plugin('p0', 'exit 0');
    expect(m).toMatchObject({
      apiVersion: V1,
      interactiveMode: 'Never',
      workingDir: dir,
      initialExpiration: '2030-01-01T00:00:00.000Z',
    });
    expect(m.userEnv).toEqual(
      expect.arrayContaining([
        { name: 'PATH', value: '/usr/bin:/bin' },
        { name: 'GREETING', value: 'hi' },
      ]),
    );
  });

  it('runs the plugin again with the user environment in the user directory; the kubeconfig uses the result', async () => {
    const kc = daemonKubeconfig();
    const r = startExecRefresh(
      kc,
      plugin(
        'ok',
        `printf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"%s-%s","expirationTimestamp":"2031-01-01T00:00:00Z"}}' "$GREETING" "$(basename "$(pwd)")"`,
      ),
      { wrap: () => (p) => p, log },
    );
    expect(credentialStatus(kc)).toMatchObject({
      source: 'exec plugin',
      expiresAt: '2030-01-01T00:00:00.000Z',
    });
    expect(await bearer(kc)).toBe('Bearer from-cli');
    await r.refresh();
    expect(await bearer(kc)).toBe(`Bearer hi-${path.basename(dir)}`);
    expect(credentialStatus(kc)).toMatchObject({
      expiresAt: '2031-01-01T00:00:00.000Z',
      refreshes: 1,
      problem: '',
    });
    r.close();
  });

  it('keeps the credential when the plugin fails, and status says why', async () => {
    const kc = daemonKubeconfig();
    const r = startExecRefresh(kc, plugin('bad', 'echo "login expired" >&2; exit 1'), {
      wrap: () => (p) => p,
      log,
    });
    await r.refresh();
    expect(await bearer(kc)).toBe('Bearer from-cli');
    expect(credentialStatus(kc)?.problem).toMatch(
      /^refreshing it failed: exec credential plugin .* exited with 1: login expired/,
    );
    r.close();
  });

  it('does not run a plugin that must prompt, and says what to do', async () => {
    const kc = daemonKubeconfig();
    const m = { ...plugin('prompting', `touch ${dir}/ran; exit 1`), interactiveMode: 'Always' };
    const r = startExecRefresh(kc, m, { wrap: () => (p) => p, log });
    await r.refresh();
    await r.unauthorized();
    expect(credentialStatus(kc)?.problem).toMatch(
      /interactiveMode Always: the daemon has no terminal to run it again; when the credential expires, run telepresence quit and telepresence connect/,
    );
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(dir, 'ran'))).toBe(false);
    r.close();
  });

  it('refuses a request whose plugin kubectl would refuse', () => {
    expect(() =>
      startExecRefresh(
        daemonKubeconfig(),
        { ...plugin('p1', 'exit 0'), apiVersion: 'v0' },
        { wrap: () => (p) => p, log },
      ),
    ).toThrow(/kubeconfig user "dev": exec\.apiVersion "v0" is not supported/);
  });

  it('a kubeconfig without a refreshed credential says so', () => {
    expect(credentialStatus(daemonKubeconfig())).toEqual({
      source: 'kubeconfig',
      expiresAt: '',
      nextRefresh: '',
      refreshes: 0,
      problem: '',
    });
  });
});
