import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TpError } from '../util/errors.js';
import {
  execInfo,
  execPluginSpec,
  parseExecCredential,
  runExecPlugin,
  type ExecPluginSpec,
} from './exec-credential.js';

const V1 = 'client.authentication.k8s.io/v1';
const spec = (over: Partial<ExecPluginSpec> = {}): ExecPluginSpec => ({
  apiVersion: V1,
  command: 'plugin',
  args: [],
  env: [],
  interactiveMode: 'Never',
  provideClusterInfo: false,
  installHint: '',
  ...over,
});
const cred = (status: object, apiVersion = V1) =>
  JSON.stringify({ apiVersion, kind: 'ExecCredential', status });

describe('exec credential plugins', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'exec-cred-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };

  it('validates the exec section as kubectl does', () => {
    expect(
      execPluginSpec({ apiVersion: V1, command: 'aws', args: ['eks'], interactiveMode: 'Never' }, 'u'),
    ).toEqual(spec({ command: 'aws', args: ['eks'] }));
    expect(
      execPluginSpec({ apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'x' }, 'u')
        .interactiveMode,
    ).toBe('IfAvailable');
    const cases: Array<[object, RegExp]> = [
      [
        { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' },
        /apiVersion .* is not supported/,
      ],
      [{ apiVersion: V1, command: '', interactiveMode: 'Never' }, /exec\.command is empty/],
      [{ apiVersion: V1, command: 'x' }, /interactiveMode must be set/],
      [
        { apiVersion: V1, command: 'x', interactiveMode: 'Sometimes' },
        /interactiveMode "Sometimes" is not valid/,
      ],
    ];
    for (const [exec, message] of cases) {
      expect(() => execPluginSpec(exec, 'dev')).toThrow(message);
      expect(() => execPluginSpec(exec, 'dev')).toThrow(/kubeconfig user "dev"/);
    }
  });

  it('reads a token, a certificate and the expiry; rejects what kubectl rejects', () => {
    expect(
      parseExecCredential(cred({ token: 't', expirationTimestamp: '2030-01-01T00:00:00Z' }), spec()),
    ).toEqual({
      token: 't',
      expiresAt: Date.parse('2030-01-01T00:00:00Z'),
    });
    expect(parseExecCredential(cred({ clientCertificateData: 'C', clientKeyData: 'K' }), spec())).toEqual({
      clientCertificateData: 'C',
      clientKeyData: 'K',
    });
    const bad: Array<[string, RegExp]> = [
      ['not json', /not JSON/],
      [JSON.stringify({ kind: 'Other' }), /not an ExecCredential/],
      [
        cred({ token: 't' }, 'client.authentication.k8s.io/v1beta1'),
        /returned apiVersion .*v1beta1.* asks for .*v1"/,
      ],
      [cred({}), /neither a token nor a client certificate/],
      [cred({ clientCertificateData: 'C' }), /certificate without its key/],
      [cred({ token: 't', expirationTimestamp: 'soon' }), /invalid expirationTimestamp "soon"/],
    ];
    for (const [out, message] of bad) expect(() => parseExecCredential(out, spec())).toThrow(message);
  });

  it('tells the plugin about the call in KUBERNETES_EXEC_INFO, with the cluster only when it asks', () => {
    const cluster = { server: 'https://k:6443', caData: 'Q0E=', tlsServerName: 'k' };
    expect(JSON.parse(execInfo(spec(), false, cluster))).toEqual({
      apiVersion: V1,
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    expect(JSON.parse(execInfo(spec({ provideClusterInfo: true }), false, cluster)).spec.cluster).toEqual({
      server: 'https://k:6443',
      'certificate-authority-data': 'Q0E=',
      'tls-server-name': 'k',
    });
  });

  it('runs the plugin with the user environment, its own env on top, the args, in the working directory', async () => {
    const out = path.join(dir, 'seen');
    const plugin = script(
      'env-plugin',
      `printf '%s|%s|%s|%s|%s' "$FROM_USER" "$FROM_SPEC" "$1" "$(pwd)" "$KUBERNETES_EXEC_INFO" > ${out}
printf '${cred({ token: 'tok', expirationTimestamp: '2030-01-01T00:00:00Z' })}'`,
    );
    const c = await runExecPlugin(
      spec({
        command: plugin,
        args: ['arg1'],
        env: [
          { name: 'FROM_SPEC', value: 'spec' },
          { name: 'FROM_USER', value: 'spec wins' },
        ],
      }),
      { env: { FROM_USER: 'user', PATH: '/usr/bin:/bin' }, cwd: dir, terminal: false },
    );
    expect(c).toEqual({ token: 'tok', expiresAt: Date.parse('2030-01-01T00:00:00Z') });
    const { readFileSync } = await import('node:fs');
    const [fromUser, fromSpec, arg, cwd, info] = readFileSync(out, 'utf8').split('|');
    expect({ fromUser, fromSpec, arg, cwd }).toEqual({
      fromUser: 'spec wins',
      fromSpec: 'spec',
      arg: 'arg1',
      cwd: dir,
    });
    expect(JSON.parse(info!)).toMatchObject({ spec: { interactive: false } });
  });

  it("starts the plugin through the wrap, which may hand it over on stdin (the daemon's two stages)", async () => {
    // A wrapper that, like plugin-stage.ts, takes the plugin from stdin; its own environment is the wrap's.
    const wrapper = script(
      'wrapper',
      `echo "wrapper env: $SECRET" > "$WRAP_OUT"; cat > ${dir}/launch.json; exec ${dir}/tok-plugin`,
    );
    const plugin = script('tok-plugin', `printf '${cred({ token: 'w' })}'`);
    const wrapOut = path.join(dir, 'wrap-out');
    const c = await runExecPlugin(spec({ command: plugin, args: ['a1'] }), {
      env: { SECRET: 's3cret' },
      cwd: dir,
      terminal: false,
      wrap: (p) => ({ command: wrapper, args: [], env: { WRAP_OUT: wrapOut }, input: JSON.stringify(p) }),
    });
    expect(c.token).toBe('w');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(wrapOut, 'utf8')).toBe('wrapper env: \n');
    expect(JSON.parse(readFileSync(path.join(dir, 'launch.json'), 'utf8'))).toMatchObject({
      command: plugin,
      args: ['a1'],
      env: { SECRET: 's3cret' },
    });
  });

  it('says clearly why a plugin could not give a credential', async () => {
    const failing = script('failing', 'echo "first line" >&2; echo "token endpoint unreachable" >&2; exit 3');
    await expect(
      runExecPlugin(spec({ command: failing }), { env: {}, cwd: dir, terminal: false }),
    ).rejects.toThrow(
      /exec credential plugin ".*failing" exited with 3: first line \/ token endpoint unreachable/,
    );
    const missing = runExecPlugin(spec({ command: path.join(dir, 'nope'), installHint: 'install nope' }), {
      env: {},
      cwd: dir,
      terminal: false,
    });
    await expect(missing).rejects.toThrow(/cannot run exec credential plugin/);
    await expect(missing).rejects.toMatchObject({ hint: 'install nope' });
    const hanging = script('hanging', 'exec sleep 30');
    await expect(
      runExecPlugin(spec({ command: hanging }), { env: {}, cwd: dir, terminal: false, timeoutMs: 200 }),
    ).rejects.toThrow(/timed out after 0.2s/);
  });

  it('refuses a plugin that must prompt when there is no terminal (the daemon never has one)', async () => {
    const e = await runExecPlugin(spec({ command: 'x', interactiveMode: 'Always' }), {
      env: {},
      cwd: dir,
      terminal: false,
    }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TpError);
    expect((e as TpError).message).toMatch(/interactiveMode Always and there is no terminal to prompt on/);
  });
});
