// The root daemon: serves the Daemon API, owns at most one Session, records what it creates in the state
// file, and removes a dead predecessor's leftovers before it starts.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { daemon } from '@telepresence/rpc';
import { parseConfigYaml } from '../config/config.js';
import { TpError } from '../util/errors.js';
import type { Run } from '../util/exec.js';
import type { DaemonPaths } from './paths.js';
import { recoverLeftovers } from './recovery.js';
import { serveDaemon, type DaemonController } from './server.js';
import { Session, VERSION } from './session.js';
import { LogLevels } from './log-levels.js';
import { NOT_CONNECTED } from './not-connected.js';
import { alreadyConnectedError, connectDifferences } from './connect-diff.js';
import { StateFile } from './state-file.js';

export interface DaemonOptions {
  readonly paths: DaemonPaths;
  readonly log: Logger;
  readonly run: Run;
  readonly platform: NodeJS.Platform;
  readonly resolvConfPath?: string;
  /** The user the daemon serves (socket and log are theirs); root when not started through sudo. */
  readonly owner?: { uid: number; gid: number };
  /** How this program starts itself (util/self-command.ts): '' for the packaged binary. */
  readonly mainScript?: string;
  /** Run-time log level changes (run-cli.ts makes it over the root logger); default: the root only. */
  readonly logLevels?: LogLevels;
  /** Starts the watchdog that cleans up if this process dies (main.ts wires the real one). */
  readonly startWatchdog?: () => void;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { paths, log, run } = options;
  log.info({ host: hostname(), runDir: paths.runDir }, 'daemon starting');
  const recovered = await recoverLeftovers(paths, run, log);
  if (recovered.alive) throw new Error(`another daemon owns ${paths.runDir}`);
  const state = new StateFile(paths.stateFile, process.pid);
  await state.update((s) => s);

  let session: Session | undefined;
  let connecting: Promise<daemon.StatusResponse> | undefined;
  let connectingRequest: daemon.ConnectRequest | undefined;
  let quitting = false;

  const connected = (): Session => {
    if (session === undefined)
      throw new TpError('user', 'not connected', { hint: 'run telepresence connect first' });
    return session;
  };
  const controller: DaemonController = {
    version: () => ({ info: { name: 'telepresence-daemon', version: VERSION, tunnelVersion: 1 } }),
    connect: async (req, progress) => {
      if (quitting)
        throw new TpError('user', 'the daemon is quitting', {
          hint: 'run telepresence connect again in a moment',
        });
      if (session !== undefined) {
        // New flags are never ignored silently: the same settings report the connection, others fail.
        const differences = connectDifferences(session.activeRequest, req);
        if (differences.length > 0) throw alreadyConnectedError(differences);
        progress('Already connected with these settings');
        return session.status();
      }
      if (connecting !== undefined) {
        const differences = connectDifferences(connectingRequest ?? req, req);
        if (differences.length > 0) throw alreadyConnectedError(differences);
        progress('A connect is already in progress; waiting for it');
        return connecting;
      }
      connectingRequest = req;
      const fileLayer = parseConfigYaml(req.configYaml, 'config.yml');
      connecting = Session.connect(
        {
          log,
          run,
          state,
          logFile: paths.logFile,
          platform: options.platform,
          ...(options.owner === undefined ? {} : { owner: options.owner }),
          ...(options.mainScript === undefined ? {} : { mainScript: options.mainScript }),
          ...(options.resolvConfPath === undefined ? {} : { resolvConfPath: options.resolvConfPath }),
        },
        req,
        fileLayer,
        (step) => {
          log.info({ step }, 'connect progress');
          progress(step);
        },
      )
        .then((s) => {
          session = s;
          return s.status();
        })
        .catch(async (e: unknown) => {
          log.error({ err: (e as Error).message }, 'connect failed');
          // A failed connect leaves nothing behind; the state file then lists nothing of ours.
          await state.update((s) => ({ pid: s.pid, startedAt: s.startedAt, nftTables: [], routes: [] }));
          throw e;
        })
        .finally(() => (connecting = undefined));
      return connecting;
    },
    status: () => session?.status() ?? { ...NOT_CONNECTED, logFile: paths.logFile },
    list: (namespace) => connected().intercepts.list(namespace),
    intercept: (req) => connected().intercepts.intercept(req),
    leave: (name) => connected().intercepts.leave(name),
    setLogLevel: async (req) => {
      const previous = (options.logLevels ?? new LogLevels(log)).set(req.level, Number(req.durationMs));
      log.info({ level: req.level, durationMs: Number(req.durationMs) }, 'log level set');
      return { previousLevel: Number(req.durationMs) > 0 ? previous : '' };
    },
    quit: async () => {
      quitting = true;
      await connecting?.catch(() => undefined);
      await session?.close();
      session = undefined;
      await state.remove();
      log.info('disconnected; daemon exiting');
    },
  };

  let exit!: () => void;
  const exited = new Promise<void>((resolve) => (exit = resolve));
  const server = await serveDaemon(paths, controller, () => exit(), options.owner);
  options.startWatchdog?.();
  log.info({ socket: paths.socket }, 'daemon serving');
  const onSignal = (signal: string): void => {
    log.info({ signal }, 'signal received; quitting');
    void controller.quit().finally(() => exit());
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  await exited;
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  server.forceShutdown();
}
