// Linux: the root daemon starts a credential plugin as the daemon's owner with setpriv (util-linux):
// real and effective uid and gid, and the owner's supplementary groups (initgroups), so the plugin reads
// exactly the files the user can. (Node's spawn with uid/gid would drop the supplementary groups.)
import fs from 'node:fs';
import { TpError } from '../util/errors.js';
import type { CommandWrap } from './exec-credential.js';

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv'];

export interface ProcessOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * How to start a process as `owner`: as is when that is who we already are (the connecting user is
 * root, or the daemon is not root), else through setpriv. Throws when setpriv is missing.
 */
export function linuxRunAs(
  owner: ProcessOwner,
  self: ProcessOwner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
  exists: (file: string) => boolean = fs.existsSync,
): CommandWrap {
  if (owner.uid === self.uid) return (command, args) => ({ command, args: [...args] });
  if (!Number.isInteger(owner.uid) || owner.uid < 0 || !Number.isInteger(owner.gid) || owner.gid < 0)
    throw new TpError('internal', `invalid daemon owner ${owner.uid}:${owner.gid}`);
  const setpriv = SETPRIV_PATHS.find((p) => exists(p));
  if (setpriv === undefined)
    throw new TpError(
      'config',
      'setpriv is missing: the daemon needs it to run your exec credential plugin as you',
      {
        hint: 'install util-linux (apt-get install util-linux)',
      },
    );
  return (command, args) => ({
    command: setpriv,
    args: [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', '--', command, ...args],
  });
}
