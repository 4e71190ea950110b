import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildProgram, type CliDeps } from './program.js';

function harness(env: NodeJS.ProcessEnv, isRoot = false) {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode = 0;
  const deps: CliDeps = {
    env,
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    mainScript: '/nonexistent/main.js',
    isRoot,
    run: async () => '',
    quietLogger: () => pino({ level: 'silent' }),
    runDaemon: async () => undefined,
    runWatchdog: async () => undefined,
    runCredentialPlugin: async () => undefined,
    setExitCode: (c) => (exitCode = c),
  };
  return { deps, out, err, exitCode: () => exitCode };
}

describe('telepresence CLI', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-cli-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports "Not connected" when no daemon runs', async () => {
    const h = harness({ TELEPRESENCE_RUN_DIR: dir });
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'status']);
    expect(h.out).toEqual(['Not connected']);
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'status', '--output', 'json']);
    expect(JSON.parse(h.out[1] ?? '')).toEqual({ connected: false, logFile: '' });
  });

  it('quit without a daemon says so', async () => {
    const h = harness({ TELEPRESENCE_RUN_DIR: dir });
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'quit']);
    expect(h.out).toEqual(['Not connected']);
  });

  it('connect as a non-root user without sudo says what to do', async () => {
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://198.18.0.1:6443' } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const h = harness({ TELEPRESENCE_RUN_DIR: dir, XDG_CONFIG_HOME: dir, PATH: dir });
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'connect', '--kubeconfig', kubeconfig]);
    expect(h.err).toEqual([
      'telepresence connect: connecting needs the root daemon, and sudo (to start it) is not installed; install sudo (apt-get install sudo) and allow yourself to run telepresence with it, or connect as root',
    ]);
    expect(h.exitCode()).toBe(1);
  });

  it('connect as a non-root user without any kubeconfig says so before asking sudo for anything', async () => {
    const h = harness({ TELEPRESENCE_RUN_DIR: dir, XDG_CONFIG_HOME: dir, HOME: dir, PATH: dir });
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'connect']);
    expect(h.err).toEqual([
      'telepresence connect: no kubeconfig: --kubeconfig not given, $KUBECONFIG not set, no ~/.kube/config; pass --kubeconfig FILE or set KUBECONFIG',
    ]);
  });

  it('connect rejects a broken config file before starting anything, naming the file and key', async () => {
    fs.mkdirSync(path.join(dir, 'telepresence'));
    fs.writeFileSync(path.join(dir, 'telepresence', 'config.yml'), 'routing:\n  neverProxy: [nope]\n');
    const h = harness({ TELEPRESENCE_RUN_DIR: dir, XDG_CONFIG_HOME: dir }, true);
    await buildProgram(h.deps).parseAsync(['node', 'telepresence', 'connect', '-o', 'json']);
    const printed = JSON.parse(h.out[0] ?? '') as { error: { category: string; message: string } };
    expect(printed.error.category).toBe('config');
    expect(printed.error.message).toContain(`${dir}/telepresence/config.yml: routing.neverProxy:`);
    expect(h.exitCode()).toBe(1);
    expect(fs.existsSync(path.join(dir, 'daemon.sock'))).toBe(false);
  });
});
