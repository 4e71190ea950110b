// Where the daemon keeps its socket, state file and log. One run dir per daemon; tests point
// TELEPRESENCE_RUN_DIR at their own.
import path from 'node:path';

export interface DaemonPaths {
  readonly runDir: string;
  readonly socket: string;
  readonly stateFile: string;
  readonly logFile: string;
}

export const DEFAULT_RUN_DIR = '/run/telepresence';

export function daemonPaths(runDir: string): DaemonPaths {
  return {
    runDir,
    socket: path.join(runDir, 'daemon.sock'),
    stateFile: path.join(runDir, 'state.json'),
    logFile: path.join(runDir, 'daemon.log'),
  };
}
