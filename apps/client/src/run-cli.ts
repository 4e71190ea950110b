// The `telepresence` process: the composition root. The only place that reads process.env and creates
// the root pino logger. main.ts (node dist/main.js) and sea/sea-main.ts (the packaged binary) call it.
import { CommanderError } from 'commander';
import { daemonOwner } from './cli/elevation.js';
import { endQuietlyOnEpipe } from './cli/epipe.js';
import { buildProgram } from './cli/program.js';
import type { DaemonPaths } from './daemon/paths.js';
import { prepareRunDir } from './daemon/server.js';
import { run } from './util/exec.js';

// pino is loaded on demand: the CLI commands that talk to the daemon (list, intercept, leave, status) log
// nothing, and every module loaded is start-up time of each command.
const loadPino = async () => (await import('pino')).pino;

/**
 * mainScript: the script to run this program again (the CLI starts the daemon, the daemon its watchdog);
 * '' when the executable itself is the program (the packaged binary).
 */
export async function runCli(mainScript: string): Promise<void> {
  async function daemonMain(paths: DaemonPaths): Promise<void> {
    await prepareRunDir(paths.runDir);
    const pino = await loadPino();
    const { LogLevels } = await import('./daemon/log-levels.js');
    const levels = new LogLevels();
    const log = pino(
      {
        level: process.env['TELEPRESENCE_LOG_LEVEL'] ?? 'info',
        base: { app: 'daemon', pid: process.pid },
        onChild: levels.onChild,
      },
      pino.destination({ dest: paths.logFile, sync: true, mkdir: true }),
    );
    levels.useRoot(log);
    try {
      // Loaded only here: the daemon's dependencies (@kubernetes/client-node) take seconds to load and the
      // CLI commands do not need them.
      const { runDaemon } = await import('./daemon/daemon.js');
      (await import('@telepresence/tunnel')).tuneHeapForStreaming();
      const { startWatchdog } = await import('./daemon/watchdog.js');
      await runDaemon({
        paths,
        log,
        run,
        platform: process.platform,
        owner: daemonOwner(process.env),
        mainScript,
        logLevels: levels,
        startWatchdog: () => startWatchdog(mainScript, paths, process.env),
      });
      process.exit(0);
    } catch (e) {
      log.fatal({ err: e }, 'daemon failed');
      process.exit(1);
    }
  }

  async function watchdogMain(paths: DaemonPaths): Promise<void> {
    const pino = await loadPino();
    const log = pino(
      { level: 'info', base: { app: 'watchdog', pid: process.pid } },
      pino.destination({ dest: paths.logFile, sync: true, mkdir: true }),
    );
    const { runWatchdog } = await import('./daemon/watchdog.js');
    await runWatchdog(paths, run, log, process.stdin);
    process.exit(0);
  }

  endQuietlyOnEpipe([process.stdout, process.stderr], (code) => process.exit(code));

  const program = buildProgram({
    env: process.env,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    mainScript,
    isRoot: process.getuid?.() === 0,
    run,
    quietLogger: async () => (await loadPino())({ level: 'silent' }),
    runDaemon: daemonMain,
    runWatchdog: watchdogMain,
    runCredentialPlugin: async () => {
      const { runPluginStage } = await import('./k8s/plugin-stage.js');
      process.exitCode = await runPluginStage(process.stdin, (text) => process.stderr.write(`${text}\n`));
    },
    setExitCode: (code) => {
      process.exitCode = code;
    },
  });

  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exitCode = e.exitCode;
    else throw e;
  }
}
