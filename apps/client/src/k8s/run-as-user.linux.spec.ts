import { linuxRunAs, ROOT_STAGE_ENV } from './run-as-user.linux.js';
import { decodeLaunch } from './plugin-stage.js';

const stage = ['/usr/bin/telepresence', ['run-credential-plugin']] as const;
const root = { uid: 0, gid: 0 };
const plugin = {
  command: 'aws',
  args: ['eks', 'get-token'],
  env: { PATH: '/home/u/bin', LD_PRELOAD: '/home/u/x.so' },
};

describe('starting a credential plugin as the daemon owner (Linux)', () => {
  it("goes through setpriv (uid, gid, the owner's groups) then the second stage, with the plugin on stdin", () => {
    const wrap = linuxRunAs(
      { uid: 1000, gid: 1001 },
      { stage, self: root, exists: (f) => f === '/usr/bin/setpriv' },
    );
    const launch = wrap(plugin);
    expect(launch.command).toBe('/usr/bin/setpriv');
    expect(launch.args).toEqual([
      '--reuid=1000',
      '--regid=1001',
      '--init-groups',
      '--',
      '/usr/bin/telepresence',
      'run-credential-plugin',
    ]);
    // Nothing of the user's in the part that starts as root: their environment goes on stdin.
    expect(launch.env).toEqual(ROOT_STAGE_ENV);
    expect(decodeLaunch(launch.input!)).toEqual(plugin);
  });

  it('starts the plugin as is when the owner is who we are (root connected as root)', () => {
    expect(linuxRunAs(root, { stage, self: root, exists: () => false })(plugin)).toEqual(plugin);
  });

  it('says what to install when setpriv is missing', () => {
    expect(() => linuxRunAs({ uid: 1000, gid: 1000 }, { stage, self: root, exists: () => false })).toThrow(
      /setpriv is missing: the daemon needs it to run your exec credential plugin as you/,
    );
  });
});
