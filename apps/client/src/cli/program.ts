// The `telepresence` command line: connect, status, quit, list/intercept/leave (intercept-commands.ts), plus the
// hidden `daemon-foreground` that the CLI starts as the root daemon.
import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { daemon } from '@telepresence/rpc';
import { NOT_CONNECTED } from '../daemon/not-connected.js';
import { daemonPaths, DEFAULT_RUN_DIR, type DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../util/errors.js';
import type { Run } from '../util/exec.js';
import { addInterceptCommands } from './intercept-commands.js';
import { addToolCommands } from './tool-commands.js';
import {
  daemonConnect,
  daemonQuit,
  daemonStatus,
  isDaemonRunning,
  openDaemonClient,
  startDaemon,
  waitForExit,
} from './daemon-client.js';
import {
  errorFromDaemon,
  formatConnected,
  formatError,
  formatProgress,
  formatStatus,
  parseOutputFormat,
  type OutputFormat,
} from './output.js';
import type { Logger } from 'pino';

export interface CliDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly mainScript: string;
  readonly isRoot: boolean;
  readonly run: Run;
  /** A silent logger, made on demand (pino is not loaded for commands that need none). */
  readonly quietLogger: () => Logger | Promise<Logger>;
  readonly runDaemon: (paths: DaemonPaths) => Promise<void>;
  readonly runWatchdog: (paths: DaemonPaths) => Promise<void>;
  /** The second stage of running an exec credential plugin as the user (k8s/plugin-stage.ts). */
  readonly runCredentialPlugin: () => Promise<void>;
  readonly setExitCode: (code: number) => void;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const commaList = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value.split(',').filter((s) => s !== ''),
];

interface ConnectOptions {
  namespace?: string;
  managerNamespace?: string;
  context?: string;
  kubeconfig?: string;
  managerAddress?: string;
  alsoProxy: string[];
  neverProxy: string[];
  allowConflictingSubnets: string[];
  mappedNamespaces: string[];
  dnsIncludeSuffix: string[];
  dnsExcludeSuffix: string[];
  dns?: string;
  output?: string;
}

export function buildProgram(deps: CliDeps): Command {
  const paths = daemonPaths(deps.env['TELEPRESENCE_RUN_DIR'] || DEFAULT_RUN_DIR);
  const program = new Command('telepresence')
    .description('Reach a Kubernetes cluster network from this workstation as if it were a pod')
    .showHelpAfterError('(run telepresence --help for usage)')
    .exitOverride();

  /** Runs a command body, printing any error as one line (or JSON) and setting the exit code. */
  const guarded =
    <A extends unknown[]>(
      name: string,
      format: (...args: A) => OutputFormat,
      body: (...args: A) => Promise<void>,
    ) =>
    async (...args: A): Promise<void> => {
      let fmt: OutputFormat = 'human';
      try {
        fmt = format(...args);
        await body(...args);
      } catch (e) {
        const err = TpError.from(e);
        const text = formatError(name, err, paths.logFile, fmt);
        if (fmt === 'json') deps.out(text);
        else deps.err(text);
        deps.setExitCode(1);
      }
    };

  const outputOption = new Option('-o, --output <format>', 'output format: json for scripts').choices([
    'json',
    'human',
  ]);

  program
    .command('connect')
    .description('Connect to the cluster: start the daemon, route cluster subnets, resolve cluster names')
    .option('-n, --namespace <ns>', "namespace to connect to (default: the context's)")
    .option('--manager-namespace <ns>', 'namespace of the traffic-manager', 'ambassador')
    .option('--context <name>', 'kubeconfig context')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option(
      '--manager-address <[https://]host:port>',
      'reach the traffic-manager directly instead of through a port-forward (https:// verifies it with the CA its cluster publishes)',
    )
    .option('--also-proxy <cidr>', 'also route this subnet to the cluster (repeatable)', collect, [])
    .option('--never-proxy <cidr>', 'never route this subnet to the cluster (repeatable)', collect, [])
    .option(
      '--allow-conflicting-subnets <cidr>',
      'route this subnet even if it overlaps a local route (repeatable)',
      collect,
      [],
    )
    .option(
      '--mapped-namespaces <a,b>',
      'namespaces whose names resolve without the cluster domain',
      commaList,
      [],
    )
    .option(
      '--dns-include-suffix <suffix>',
      'also resolve names with this suffix in the cluster (repeatable)',
      collect,
      [],
    )
    .option(
      '--dns-exclude-suffix <suffix>',
      'never resolve names with this suffix in the cluster (repeatable)',
      collect,
      [],
    )
    .option('--dns <ip>', 'the nameserver to take over and fall back to (default: first in /etc/resolv.conf)')
    .addOption(outputOption)
    .action(
      guarded(
        'connect',
        (o: ConnectOptions) => parseOutputFormat(o.output),
        async (o: ConnectOptions) => {
          const format = parseOutputFormat(o.output);
          // Loaded here only: the config parser (yaml, subnets) costs every other command start-up time.
          const { configFilePath, parseConfigYaml } = await import('../config/config.js');
          const configFile = configFilePath({
            XDG_CONFIG_HOME: deps.env['XDG_CONFIG_HOME'],
            HOME: deps.env['HOME'],
          });
          let configYaml = '';
          try {
            configYaml = fs.readFileSync(configFile, 'utf8');
          } catch {
            // no config file: defaults apply
          }
          parseConfigYaml(configYaml, configFile); // fail here, with the file's path, rather than in the daemon
          const progress = (step: string): void => {
            if (format === 'human') deps.out(formatProgress(step));
          };
          // A non-root user's credentials are resolved here, as that user (exec plugins never run as root),
          // before sudo is asked for anything.
          const forDaemon = deps.isRoot
            ? undefined
            : await (
                await import('../k8s/user-credentials.js')
              ).kubeconfigForDaemon({
                kubeconfig: o.kubeconfig ?? '',
                context: o.context ?? '',
                env: deps.env,
                cwd: process.cwd(),
                terminal: process.stdin.isTTY === true,
              });
          if (!(await isDaemonRunning(paths))) {
            progress('Starting the root daemon');
            await startDaemon(paths, deps.mainScript, deps.env, deps.isRoot);
          }
          const client = openDaemonClient(paths);
          try {
            const req: daemon.ConnectRequest = {
              namespace: o.namespace ?? '',
              managerNamespace: o.managerNamespace ?? '',
              context: o.context ?? '',
              kubeconfig: deps.isRoot ? (o.kubeconfig ?? deps.env['KUBECONFIG'] ?? '') : '',
              kubeconfigYaml: forDaemon?.yaml ?? '',
              execPlugin: forDaemon?.execPlugin,
              managerAddress: o.managerAddress ?? '',
              alsoProxy: o.alsoProxy,
              neverProxy: o.neverProxy,
              allowConflictingSubnets: o.allowConflictingSubnets,
              mappedNamespaces: o.mappedNamespaces,
              dnsIncludeSuffixes: o.dnsIncludeSuffix,
              dnsExcludeSuffixes: o.dnsExcludeSuffix,
              dns: o.dns ?? '',
              configYaml,
            };
            const result = await daemonConnect(client, req, progress);
            if (result.error !== '') throw errorFromDaemon(result.error);
            if (result.status) deps.out(formatConnected(result.status, format));
          } finally {
            client.close();
          }
        },
      ),
    );

  program
    .command('status')
    .description('Show the connection: session, routed subnets, DNS, counters, and where the daemon logs')
    .addOption(outputOption)
    .action(
      guarded(
        'status',
        (o: { output?: string }) => parseOutputFormat(o.output),
        async (o: { output?: string }) => {
          const format = parseOutputFormat(o.output);
          if (!(await isDaemonRunning(paths))) {
            deps.out(
              formatStatus(
                { ...NOT_CONNECTED, logFile: fs.existsSync(paths.logFile) ? paths.logFile : '' },
                format,
              ),
            );
            return;
          }
          const client = openDaemonClient(paths);
          try {
            deps.out(formatStatus(await daemonStatus(client), format));
          } finally {
            client.close();
          }
        },
      ),
    );

  program
    .command('quit')
    .description('Disconnect: remove routes, DNS rules and the network interface, and stop the daemon')
    .addOption(outputOption)
    .action(
      guarded(
        'quit',
        (o: { output?: string }) => parseOutputFormat(o.output),
        async (o: { output?: string }) => {
          const format = parseOutputFormat(o.output);
          const say = (text: string, removed: readonly string[] = []): void =>
            deps.out(format === 'json' ? JSON.stringify({ message: text, removed }) : text);
          if (await isDaemonRunning(paths)) {
            const client = openDaemonClient(paths);
            try {
              await daemonQuit(client);
            } finally {
              client.close();
            }
            if (!(await waitForExit(paths))) {
              throw new TpError('internal', 'the daemon did not exit after quit', {
                hint: `see ${paths.logFile}`,
              });
            }
            say('Disconnected');
            return;
          }
          // No daemon: clean whatever a crashed one left.
          if (!deps.isRoot && fs.existsSync(paths.stateFile)) {
            throw new TpError('user', 'a crashed daemon left state behind, and removing it needs root', {
              hint: 'run: sudo telepresence quit',
            });
          }
          // Recovery needs root; a non-root user gets here only when no state was left.
          let removed: readonly string[] = [];
          if (deps.isRoot) {
            const { recoverLeftovers } = await import('../daemon/recovery.js');
            ({ removed } = await recoverLeftovers(paths, deps.run, await deps.quietLogger()));
          }
          if (removed.length > 0)
            say(`Removed what a stopped daemon left behind: ${removed.join(', ')}`, removed);
          else say('Not connected');
        },
      ),
    );

  addInterceptCommands(program, { paths, out: deps.out, err: deps.err, setExitCode: deps.setExitCode });
  addToolCommands(program, { ...deps, paths });

  program
    .command('daemon-foreground', { hidden: true })
    .description('Run the root daemon in the foreground (the CLI starts it)')
    .action(async () => {
      await deps.runDaemon(paths);
    });

  program
    .command('run-credential-plugin', { hidden: true })
    .description('Run an exec credential plugin as the user (the daemon starts it through setpriv)')
    .action(async () => {
      await deps.runCredentialPlugin();
    });

  program
    .command('daemon-watchdog', { hidden: true })
    .description('Clean up after the daemon if it dies (the daemon starts it)')
    .action(async () => {
      await deps.runWatchdog(paths);
    });

  return program;
}
