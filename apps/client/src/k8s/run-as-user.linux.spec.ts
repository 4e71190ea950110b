import { execFileSync } from 'node:child_process';
import { needs } from 'test-requirements';
import { runExecPlugin } from './exec-credential.js';
import { linuxRunAs } from './run-as-user.linux.js';

describe('starting a process as the daemon owner (Linux)', () => {
  it("goes through setpriv with uid, gid and the owner's groups when the owner is someone else", () => {
    const wrap = linuxRunAs({ uid: 1000, gid: 1001 }, { uid: 0, gid: 0 }, (f) => f === '/usr/bin/setpriv');
    expect(wrap('aws', ['eks', 'get-token'])).toEqual({
      command: '/usr/bin/setpriv',
      args: ['--reuid=1000', '--regid=1001', '--init-groups', '--', 'aws', 'eks', 'get-token'],
    });
  });

  it('starts the process as is when the owner is who we are (root connected as root)', () => {
    expect(linuxRunAs({ uid: 0, gid: 0 }, { uid: 0, gid: 0 }, () => false)('aws', ['x'])).toEqual({
      command: 'aws',
      args: ['x'],
    });
  });

  it('says what to install when setpriv is missing', () => {
    expect(() => linuxRunAs({ uid: 1000, gid: 1000 }, { uid: 0, gid: 0 }, () => false)).toThrow(
      /setpriv is missing: the daemon needs it to run your exec credential plugin as you/,
    );
  });

  needs('root').it(
    "the plugin really runs as the owner, with the owner's groups and none of root's",
    async () => {
      const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
      const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
      const groups = execFileSync('id', ['-G', 'nobody']).toString().trim();
      const c = await runExecPlugin(
        {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: 'sh',
          args: [
            '-c',
            `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(id -u):$(id -g):$(id -G)"`,
          ],
          env: [],
          interactiveMode: 'Never',
          provideClusterInfo: false,
          installHint: '',
        },
        { env: { PATH: '/usr/bin:/bin' }, cwd: '/', terminal: false, wrap: linuxRunAs({ uid, gid }) },
      );
      expect(c.token).toBe(`${uid}:${gid}:${groups}`);
    },
  );
});
