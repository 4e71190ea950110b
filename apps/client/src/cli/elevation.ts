// Run as the user, elevate only the network part: a non-root CLI starts the root daemon through sudo
// (`sudo telepresence daemon-start`), which starts it detached and returns once it serves. sudo asks for a
// password on the terminal itself (/dev/tty); without a terminal it must not ask (-n). The daemon learns
// its owner from SUDO_UID/SUDO_GID, which sudo sets, and gives that user its socket and log.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_RUN_DIR, type DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../util/errors.js';
import { selfCommand } from '../util/self-command.js';

export interface DaemonOwner {
  readonly uid: number;
  readonly gid: number;
}

/** The user a root daemon serves: the one who ran sudo, else root. */
export function daemonOwner(env: NodeJS.ProcessEnv): DaemonOwner {
  const uid = Number(env['SUDO_UID']);
  const gid = Number(env['SUDO_GID']);
  return Number.isInteger(uid) && uid > 0 && Number.isInteger(gid) && gid >= 0
    ? { uid, gid }
    : { uid: 0, gid: 0 };
}

export function findOnPath(name: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar || '/usr/bin:/bin').split(':')) {
    const file = path.join(dir || '.', name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

const SUDO_HINT =
  'telepresence runs its network daemon as root: ask an administrator to allow you `sudo telepresence` ' +
  '(see "Install the client" in the README), or run sudo telepresence connect';

/** The sudo command line that starts the daemon for `paths` (the run dir crosses sudo as an argument). */
export function sudoArgs(mainScript: string, paths: DaemonPaths, interactive: boolean): string[] {
  const [command, args] = selfCommand(mainScript, [
    'daemon-start',
    ...(paths.runDir === DEFAULT_RUN_DIR ? [] : ['--run-dir', paths.runDir]),
  ]);
  return [...(interactive ? [] : ['-n']), '--', command, ...args];
}

/** Starts the root daemon through sudo; resolves once sudo's `daemon-start` reports it serving. */
export async function startDaemonThroughSudo(
  paths: DaemonPaths,
  mainScript: string,
  env: NodeJS.ProcessEnv,
  interactive: boolean,
): Promise<void> {
  const sudo = findOnPath('sudo', env['PATH']);
  if (sudo === undefined)
    throw new TpError('user', 'connecting needs the root daemon, and sudo (to start it) is not installed', {
      hint: 'install sudo (apt-get install sudo) and allow yourself to run telepresence with it, or connect as root',
    });
  const child = spawn(sudo, sudoArgs(mainScript, paths, interactive), {
    stdio: ['inherit', 'ignore', 'pipe'],
    env,
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c ?? 1));
  });
  if (code === 0) return;
  const said = stderr.trim().split('\n').filter(Boolean).pop() ?? '';
  // daemon-start itself failed (sudo worked): its message is the telepresence error line.
  if (said.startsWith('telepresence '))
    throw new TpError('internal', said.replace(/^telepresence [\w-]+: /, ''));
  throw new TpError('user', `sudo refused to start the root daemon${said === '' ? '' : ` (${said})`}`, {
    hint: SUDO_HINT,
  });
}
