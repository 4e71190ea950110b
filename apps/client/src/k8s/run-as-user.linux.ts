// Linux: the root daemon starts a credential plugin as the daemon's owner with setpriv (util-linux):
// real and effective uid and gid, and the owner's supplementary groups (initgroups), so the plugin reads
// exactly the files the user can. (Node's spawn with uid/gid would drop the supplementary groups.)
// setpriv itself runs as root until it drops, so it gets an environment of ours only; the user's
// environment reaches the plugin through the second stage (plugin-stage.ts), on stdin.
import fs from 'node:fs';
import { TpError } from '../util/errors.js';
import type { CommandWrap } from './exec-credential.js';
import { encodeLaunch } from './plugin-stage.js';

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv'];
/** The whole environment of the root part (setpriv, until it drops). */
export const ROOT_STAGE_ENV: Readonly<Record<string, string>> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export interface ProcessOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface RunAsOptions {
  /** How this program runs its hidden `run-credential-plugin` command (util/self-command.ts). */
  readonly stage: readonly [string, readonly string[]];
  /** Who this process is (tests). */
  readonly self?: ProcessOwner;
  readonly exists?: (file: string) => boolean;
}

/**
 * How to start a process as `owner`: as is when that is who we already are (the connecting user is
 * root, or the daemon is not root), else setpriv then the second stage. Throws when setpriv is missing.
 */
export function linuxRunAs(owner: ProcessOwner, o: RunAsOptions): CommandWrap {
  const self = o.self ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (owner.uid === self.uid) return (plugin) => plugin;
  if (!Number.isInteger(owner.uid) || owner.uid < 0 || !Number.isInteger(owner.gid) || owner.gid < 0)
    throw new TpError('internal', `invalid daemon owner ${owner.uid}:${owner.gid}`);
  const setpriv = SETPRIV_PATHS.find((p) => (o.exists ?? fs.existsSync)(p));
  if (setpriv === undefined)
    throw new TpError(
      'config',
      'setpriv is missing: the daemon needs it to run your exec credential plugin as you',
      {
        hint: 'install util-linux (apt-get install util-linux)',
      },
    );
  const [stage, stageArgs] = o.stage;
  return (plugin) => ({
    command: setpriv,
    args: [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', '--', stage, ...stageArgs],
    env: ROOT_STAGE_ENV,
    input: encodeLaunch(plugin),
  });
}
