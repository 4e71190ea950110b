// The daemon's watchdog: a small process the daemon starts, holding the read end of a pipe whose write end
// only the daemon has. When the daemon dies for any reason (kill -9 included) the pipe ends, and the
// watchdog at once removes what the daemon left (above all the DNS redirect, so the machine's DNS never
// points at a dead server), then exits. After a normal quit the state file is gone and it does nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Run } from '../util/exec.js';
import { selfCommand } from '../util/self-command.js';
import type { DaemonPaths } from './paths.js';
import { recoverLeftovers } from './recovery.js';
import { readState } from './state-file.js';

/** Started by the daemon. The child's stdin is the pipe; nothing else is inherited. */
export function startWatchdog(mainScript: string, paths: DaemonPaths, env: NodeJS.ProcessEnv): void {
  const [command, args] = selfCommand(mainScript, ['daemon-watchdog']);
  const child = spawn(command, args, {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
    env: { ...env, TELEPRESENCE_RUN_DIR: paths.runDir },
  });
  child.unref();
  if (child.pid !== undefined)
    fs.writeFileSync(path.join(paths.runDir, 'watchdog.pid'), `${child.pid}\n`, { mode: 0o600 });
  // Keep the write end open for the daemon's lifetime, without keeping the event loop alive.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}

/** The watchdog process body: waits for the pipe to end, then cleans up if the daemon died. */
export async function runWatchdog(
  paths: DaemonPaths,
  run: Run,
  log: Logger,
  stdin: NodeJS.ReadableStream,
): Promise<void> {
  const daemonPid = process.ppid;
  await new Promise<void>((resolve) => {
    stdin.on('data', () => undefined);
    stdin.on('end', resolve);
    stdin.on('error', () => resolve());
  });
  fs.rmSync(path.join(paths.runDir, 'watchdog.pid'), { force: true });
  const state = await readState(paths.stateFile);
  if (state === undefined || state.pid !== daemonPid) return; // clean quit, or a newer daemon owns the dir
  // The pipe ended, so the daemon is gone (maybe an unreaped zombie, which kill(pid, 0) still finds).
  const result = await recoverLeftovers(paths, run, log, { knownDead: true });
  if (result.removed.length > 0)
    log.warn({ removed: result.removed, deadPid: daemonPid }, 'watchdog: daemon died; removed its leftovers');
}
