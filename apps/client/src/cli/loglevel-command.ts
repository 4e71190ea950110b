// `telepresence loglevel LEVEL [--duration D]`: the running daemon's log level, for a while or until it
// exits. (The level for the next daemon is logLevels.rootDaemon in config.yml.)
import type { ServiceError } from '@grpc/grpc-js';
import type { daemon } from '@telepresence/rpc';
import { parseDurationMs } from '../config/duration.js';
import type { DaemonPaths } from '../daemon/paths.js';
import { LOG_LEVELS } from '../daemon/log-levels.js';
import { TpError } from '../util/errors.js';
import { isDaemonRunning, openDaemonClient } from './daemon-client.js';
import { errorFromDaemon } from './output.js';

export function parseLogLevelArgs(
  level: string,
  duration: string | undefined,
): { level: string; durationMs: number } {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new TpError('user', `unknown log level "${level}"`, {
      hint: `use one of ${LOG_LEVELS.join(', ')}`,
    });
  let durationMs = 0;
  if (duration !== undefined) {
    try {
      durationMs = parseDurationMs(duration, '--duration');
    } catch (e) {
      throw new TpError('user', (e as Error).message, { hint: 'e.g. --duration 30s or --duration 5m' });
    }
  }
  return { level, durationMs };
}

export async function setDaemonLogLevel(
  paths: DaemonPaths,
  level: string,
  durationMs: number,
): Promise<string> {
  if (!(await isDaemonRunning(paths)))
    throw new TpError('user', 'no daemon is running, so there is no log level to change', {
      hint: 'connect first; for every daemon, set logLevels.rootDaemon in config.yml',
    });
  const client = openDaemonClient(paths);
  try {
    const res = await new Promise<daemon.SetLogLevelResponse>((resolve, reject) =>
      client.setLogLevel({ level, durationMs }, (e: ServiceError | null, r: daemon.SetLogLevelResponse) =>
        e ? reject(errorFromDaemon(e.details || e.message)) : resolve(r),
      ),
    );
    return durationMs > 0
      ? `Daemon log level set to ${level} for ${durationMs / 1000}s (then ${res.previousLevel} again); log: ${paths.logFile}`
      : `Daemon log level set to ${level}; log: ${paths.logFile}`;
  } finally {
    client.close();
  }
}
