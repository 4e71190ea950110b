// The commands users reach for around a connection: version, completion, config view, loglevel and
// gather-logs. Each lives in its own module; this file registers them.
import type { Command } from 'commander';
import { daemonPaths, type DaemonPaths } from '../daemon/paths.js';
import { socketAnswers } from '../daemon/server.js';
import { TpError } from '../util/errors.js';
import { addCompletionCommand } from './completion.js';
import { startDaemon } from './daemon-client.js';
import { formatError, parseOutputFormat } from './output.js';
import { versionReport } from './version-command.js';

export interface ToolCommandDeps {
  readonly paths: DaemonPaths;
  readonly mainScript: string;
  readonly isRoot: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly setExitCode: (code: number) => void;
}

export function addToolCommands(program: Command, deps: ToolCommandDeps): void {
  const guarded =
    <A extends unknown[]>(name: string, body: (...args: A) => Promise<void> | void) =>
    async (...args: A): Promise<void> => {
      try {
        await body(...args);
      } catch (e) {
        deps.err(formatError(name, TpError.from(e), deps.paths.logFile, 'human'));
        deps.setExitCode(1);
      }
    };

  program
    .command('version')
    .description("Show the client's version, and the daemon's and traffic-manager's when connected")
    .action(
      guarded('version', async () => {
        const report = await versionReport(deps.paths);
        deps.out(report.lines.join('\n'));
        for (const warning of report.warnings) deps.err(`warning: ${warning}`);
      }),
    );

  addCompletionCommand(program, deps.out, guarded);

  program
    .command('config')
    .description('Show the client configuration')
    .command('view')
    .description(
      "Show the merged configuration (defaults, the cluster's pushed values when connected, your config file) and where each value came from",
    )
    .option('-o, --output <format>', 'json for scripts')
    .action(
      guarded('config view', async (o: { output?: string }) => {
        const { daemonStatusIfAny, formatConfigValues, pushedLayerOf, readConfigValues } =
          await import('./config-view.js');
        const pushed = pushedLayerOf(await daemonStatusIfAny(deps.paths));
        deps.out(
          formatConfigValues(
            readConfigValues(deps.env, pushed).values,
            parseOutputFormat(o.output) === 'json',
          ),
        );
      }),
    );

  program
    .command('loglevel')
    .description("Set the running daemon's log level, for a while (--duration) or until it exits")
    .argument('<level>', 'trace, debug, info, warn, error, fatal or silent')
    .option('-d, --duration <duration>', 'then return to the level before, e.g. 30s or 5m')
    .action(
      guarded('loglevel', async (level: string, o: { duration?: string }) => {
        const { parseLogLevelArgs, setDaemonLogLevel } = await import('./loglevel-command.js');
        const args = parseLogLevelArgs(level, o.duration);
        deps.out(await setDaemonLogLevel(deps.paths, args.level, args.durationMs));
      }),
    );

  program
    .command('gather-logs')
    .description(
      "Collect the daemon's log, status, versions, configuration and the traffic-manager's and agents' logs into one archive (secrets redacted)",
    )
    .option('-o, --output-file <file>', 'the archive to write (default: telepresence-logs-TIME.tar.gz here)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--manager-namespace <ns>', 'namespace of the traffic-manager', 'ambassador')
    .action(
      guarded(
        'gather-logs',
        async (o: {
          outputFile?: string;
          kubeconfig?: string;
          context?: string;
          managerNamespace: string;
        }) => {
          const { gatherLogs, readClusterLogs } = await import('./gather-logs.js');
          const stamp = new Date().toISOString().replace(/[:.]/g, '-');
          const r = await gatherLogs({
            paths: deps.paths,
            env: deps.env,
            output: o.outputFile ?? `telepresence-logs-${stamp}.tar.gz`,
            clusterLogs: () =>
              readClusterLogs({
                kubeconfig: o.kubeconfig ?? '',
                context: o.context ?? '',
                managerNamespace: o.managerNamespace,
              }),
          });
          deps.out(`Wrote ${r.archive} (${r.files.length} files, secrets redacted)`);
          for (const e of r.errors) deps.err(`warning: not collected: ${e}`);
        },
      ),
    );

  program
    .command('daemon-start', { hidden: true })
    .description('Start the root daemon and wait until it serves (a non-root CLI runs this through sudo)')
    .option('--run-dir <dir>', 'the run directory (TELEPRESENCE_RUN_DIR does not cross sudo)')
    .action(
      guarded('daemon-start', async (o: { runDir?: string }) => {
        if (!deps.isRoot)
          throw new TpError('user', 'daemon-start must run as root', { hint: 'run telepresence connect' });
        const paths = o.runDir === undefined ? deps.paths : daemonPaths(o.runDir);
        if (await socketAnswers(paths.socket)) return;
        await startDaemon(paths, deps.mainScript, deps.env, true);
      }),
    );
}
