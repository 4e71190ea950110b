// `telepresence list`, `intercept WORKLOAD --port LOCAL[:SERVICE_PORT] [--local-only]` and `leave NAME`:
// they talk to the running daemon, which talks to the traffic-manager.
import { Option, type Command } from 'commander';
import type { ServiceError } from '@grpc/grpc-js';

import type { DaemonClient, daemon } from '@telepresence/rpc';

import type { DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../util/errors.js';
import { isDaemonRunning, openDaemonClient } from './daemon-client.js';
import { errorFromDaemon, formatError, parseOutputFormat, type OutputFormat } from './output.js';

export interface InterceptCommandDeps {
  readonly paths: DaemonPaths;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly setExitCode: (code: number) => void;
}

/** Parses `LOCAL[:SERVICE_PORT]`; SERVICE_PORT is a name or a number. */
export function parsePortSpec(spec: string): { localPort: number; servicePort: string } {
  const m = /^(\d{1,5})(?::([a-z0-9]([-a-z0-9]*[a-z0-9])?|\d{1,5}))?$/.exec(spec);
  const local = m === null ? NaN : Number(m[1]);
  if (m === null || local < 1 || local > 65535)
    throw new TpError('user', `--port ${spec} is not LOCAL[:SERVICE_PORT]`, {
      hint: 'e.g. --port 8080 or --port 8080:http or --port 8080:80',
    });
  return { localPort: local, servicePort: m[2] ?? '' };
}

export function formatList(res: daemon.ListResponse, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(res.workloads);
  if (res.workloads.length === 0) return 'No workloads in this namespace';
  const width = Math.max(...res.workloads.map((w) => w.name.length));
  return res.workloads
    .map((w) => {
      const state =
        w.interceptState === ''
          ? w.agent
            ? 'ready to intercept (traffic-agent already installed)'
            : 'ready to intercept (traffic-agent not yet installed)'
          : `intercepted: ${w.interceptState}${w.interceptMessage === '' ? '' : ` (${w.interceptMessage})`}`;
      return `${w.name.padEnd(width)}: ${state}`;
    })
    .join('\n');
}

/** What `intercept` tells the user it did. A local-only intercept redirects nothing (issue 18 item 8). */
export function interceptMessage(
  res: daemon.InterceptResponse,
  req: { workload: string; servicePort: string; localPort: number; localOnly: boolean },
): string {
  const head = `Intercept ${res.name}: ${res.state}${res.message === '' ? '' : ` (${res.message})`}`;
  if (req.localOnly)
    return (
      `${head}; local-only: no traffic of ${req.workload} is redirected and no traffic-agent is installed ` +
      `(outbound traffic and DNS still go through the traffic-manager); \`leave ${res.name}\` ends it`
    );
  return `${head}; traffic for ${req.workload}${req.servicePort === '' ? '' : ` port ${req.servicePort}`} goes to 127.0.0.1:${req.localPort}`;
}

function call<Req, Res>(
  client: DaemonClient,
  method: 'list' | 'intercept' | 'leave',
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method].bind(client) as unknown as (
      r: Req,
      cb: (e: ServiceError | null, res: Res) => void,
    ) => void;
    fn(req, (e, res) => (e ? reject(errorFromDaemon(e.details || e.message)) : resolve(res)));
  });
}

export function addInterceptCommands(program: Command, deps: InterceptCommandDeps): void {
  const outputOption = () =>
    new Option('-o, --output <format>', 'output format: json for scripts').choices(['json', 'human']);

  const withDaemon =
    <A extends unknown[]>(
      name: string,
      format: (...args: A) => string | undefined,
      body: (client: DaemonClient, fmt: OutputFormat, ...args: A) => Promise<void>,
    ) =>
    async (...args: A): Promise<void> => {
      let fmt: OutputFormat = 'human';
      try {
        fmt = parseOutputFormat(format(...args));
        if (!(await isDaemonRunning(deps.paths)))
          throw new TpError('user', 'not connected', { hint: 'run telepresence connect first' });
        const client = openDaemonClient(deps.paths);
        try {
          await body(client, fmt, ...args);
        } finally {
          client.close();
        }
      } catch (e) {
        const text = formatError(name, TpError.from(e), deps.paths.logFile, fmt);
        if (fmt === 'json') deps.out(text);
        else deps.err(text);
        deps.setExitCode(1);
      }
    };

  program
    .command('list')
    .description(
      'List the workloads of a namespace (default: the connected one), their agents and intercepts',
    )
    .option('-n, --namespace <ns>', 'the namespace to list (default: the connected one)')
    .addOption(outputOption())
    .action(
      withDaemon(
        'list',
        (o: { output?: string; namespace?: string }) => o.output,
        async (client, fmt, o: { output?: string; namespace?: string }) => {
          const req = { namespace: o.namespace ?? '' };
          deps.out(formatList(await call<daemon.ListRequest, daemon.ListResponse>(client, 'list', req), fmt));
        },
      ),
    );

  interface InterceptOptions {
    port: string;
    localOnly?: boolean;
    name?: string;
    namespace?: string;
    output?: string;
  }
  program
    .command('intercept <workload>')
    .description("Send a workload's incoming traffic for a port to a port on this workstation")
    .requiredOption('-p, --port <LOCAL[:SERVICE_PORT]>', 'local port, and the service port name or number')
    .option('--local-only', 'redirect nothing: record the intercept only (no traffic-agent is installed)')
    .option('--name <name>', 'name of the intercept (default: the workload name)')
    .option('-n, --namespace <ns>', "the workload's namespace (default: the connected one)")
    .addOption(outputOption())
    .action(
      withDaemon(
        'intercept',
        (_w: string, o: InterceptOptions) => o.output,
        async (client, fmt, workload: string, o: InterceptOptions) => {
          const { localPort, servicePort } = parsePortSpec(o.port);
          const res = await call<daemon.InterceptRequest, daemon.InterceptResponse>(client, 'intercept', {
            workload,
            localPort,
            servicePort,
            localOnly: o.localOnly === true,
            name: o.name ?? '',
            namespace: o.namespace ?? '',
          });
          if (fmt === 'json') deps.out(JSON.stringify(res));
          else
            deps.out(
              interceptMessage(res, { workload, servicePort, localPort, localOnly: o.localOnly === true }),
            );
        },
      ),
    );

  program
    .command('leave <name>')
    .description('End an intercept; the workload gets its traffic again')
    .addOption(outputOption())
    .action(
      withDaemon(
        'leave',
        (_n: string, o: { output?: string }) => o.output,
        async (client, fmt, name: string) => {
          await call<daemon.LeaveRequest, daemon.LeaveResponse>(client, 'leave', { name });
          deps.out(fmt === 'json' ? JSON.stringify({ left: name }) : `Left intercept ${name}`);
        },
      ),
    );
}
