// Running an exec credential plugin as the daemon's owner, for real (root): setpriv drops to the owner
// with the owner's groups, the built CLI's hidden run-credential-plugin stage hands the plugin the user's
// environment, and the plugin's credential comes back.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { needs } from 'test-requirements';
import { runExecPlugin } from '../src/k8s/exec-credential.js';
import { linuxRunAs } from '../src/k8s/run-as-user.linux.js';
import { buildClient } from './helpers/netns.js';

const main = path.join(process.cwd(), 'dist', 'main.js');
const id = (...args: string[]): string => execFileSync('id', args).toString().trim();

needs('root').describe('an exec credential plugin run as the daemon owner (root)', () => {
  beforeAll(() => buildClient(), 120_000);

  it("runs as the owner, with the owner's uid, gid and groups, none of root's, and the user's environment", async () => {
    const owner = { uid: Number(id('-u', 'nobody')), gid: Number(id('-g', 'nobody')) };
    const c = await runExecPlugin(
      {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: 'sh',
        args: [
          '-c',
          `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(id -u)|$(id -g)|$(id -G)|$FROM_USER"`,
        ],
        env: [],
        interactiveMode: 'Never',
        provideClusterInfo: false,
        installHint: '',
      },
      {
        env: { PATH: '/usr/bin:/bin', FROM_USER: 'user env' },
        cwd: '/',
        terminal: false,
        wrap: linuxRunAs(owner, { stage: [process.execPath, [main, 'run-credential-plugin']] }),
      },
    );
    expect(c.token).toBe(`${owner.uid}|${owner.gid}|${id('-G', 'nobody')}|user env`);
  });
});
