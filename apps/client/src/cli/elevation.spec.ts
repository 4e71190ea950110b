import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonPaths, DEFAULT_RUN_DIR } from '../daemon/paths.js';
import { daemonOwner, sudoArgs, startDaemonThroughSudo } from './elevation.js';

describe('starting the root daemon through sudo', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-sudo-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A stand-in `sudo` on PATH that records its arguments and behaves as `body` says. */
  const fakeSudo = (body: string): NodeJS.ProcessEnv => {
    fs.writeFileSync(path.join(dir, 'sudo'), `#!/bin/sh\nprintf "%s\\n" "$*" > ${dir}/args\n${body}\n`, {
      mode: 0o755,
    });
    return { PATH: `${dir}:/usr/bin:/bin` };
  };

  it('the daemon serves the user sudo names, else root', () => {
    expect(daemonOwner({ SUDO_UID: '1001', SUDO_GID: '1002' })).toEqual({ uid: 1001, gid: 1002 });
    expect(daemonOwner({})).toEqual({ uid: 0, gid: 0 });
    expect(daemonOwner({ SUDO_UID: '0', SUDO_GID: '0' })).toEqual({ uid: 0, gid: 0 });
    expect(daemonOwner({ SUDO_UID: 'x', SUDO_GID: '5' })).toEqual({ uid: 0, gid: 0 });
  });

  it('runs this program (script or binary) as daemon-start; the run dir crosses sudo as an argument; -n without a terminal', () => {
    const tty = sudoArgs('', daemonPaths(DEFAULT_RUN_DIR), true);
    expect(tty).toEqual(['--', process.execPath, 'daemon-start']);
    expect(sudoArgs('/x/main.js', daemonPaths('/tmp/r'), false)).toEqual([
      '-n',
      '--',
      process.execPath,
      '/x/main.js',
      'daemon-start',
      '--run-dir',
      '/tmp/r',
    ]);
  });

  it('resolves when sudo and daemon-start succeed', async () => {
    const env = fakeSudo('exit 0');
    await startDaemonThroughSudo(daemonPaths(dir), '', env, false);
    expect(fs.readFileSync(path.join(dir, 'args'), 'utf8').trim()).toBe(
      `-n -- ${process.execPath} daemon-start --run-dir ${dir}`,
    );
  });

  it('a refusal by sudo says so, with what sudo said and what to do', async () => {
    const env = fakeSudo('echo "sudo: a password is required" >&2; exit 1');
    await expect(startDaemonThroughSudo(daemonPaths(dir), '', env, false)).rejects.toMatchObject({
      category: 'user',
      message: 'sudo refused to start the root daemon (sudo: a password is required)',
      hint: expect.stringContaining('ask an administrator to allow you `sudo telepresence`'),
    });
  });

  it("daemon-start's own failure comes through as the daemon's error", async () => {
    const env = fakeSudo(
      'echo "telepresence daemon-start: the daemon exited (code 1) before serving" >&2; exit 1',
    );
    await expect(startDaemonThroughSudo(daemonPaths(dir), '', env, false)).rejects.toMatchObject({
      category: 'internal',
      message: 'the daemon exited (code 1) before serving',
    });
  });
});
