// The supervisor's watchdog: started by the supervisor (detached, so it outlives a `kill -9` of it), it
// removes the run (pods, namespaces, nft tables, files) when the supervisor dies without cleaning up.
// A clean shutdown ends the watchdog first. It acts only while the run's config.json is the one it
// started with, so a new `up` (which rewrites it) is never touched.
import { statSync } from 'node:fs';
import path from 'node:path';
import { cleanupRun } from './cluster.js';
import { files, processRuns, stateDirOf } from './state.js';

const [name = '', pidArg = ''] = process.argv.slice(2);
const supervisor = Number(pidArg);
if (!name || !Number.isInteger(supervisor) || supervisor <= 0) {
  process.stderr.write('usage: watchdog <run name> <supervisor pid>\n');
  process.exit(2);
}
const configFile = path.join(stateDirOf(name), files.config);
const configMtime = (): number | undefined => {
  try {
    return statSync(configFile).mtimeMs;
  } catch {
    return undefined;
  }
};
const started = configMtime();

const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} watchdog: ${msg}\n`);

const timer = setInterval(() => {
  if (processRuns(supervisor)) return; // a zombie counts as dead: PID 1 here may never reap it
  clearInterval(timer);
  if (started === undefined || configMtime() !== started) process.exit(0); // `down` or a new `up`
  log(`supervisor ${supervisor} died without cleaning up: removing devcluster "${name}"`);
  cleanupRun(name).then(
    () => process.exit(0),
    (err: unknown) => {
      log(`cleanup failed: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}, 500);
