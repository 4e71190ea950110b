// Exec credential plugins (client.authentication.k8s.io): the one place that runs a kubeconfig user's
// `exec` plugin and reads its ExecCredential. The CLI runs it as its user at connect
// (user-credentials.ts); the root daemon runs it again, wrapped so that the process is the connecting
// user's (run-as-user.linux.ts), before the credential expires (credential-refresh.ts). client-node's own
// ExecAuth is not used for this: it cannot run the plugin as another user, and it sets neither
// KUBERNETES_EXEC_INFO nor a terminal for interactive plugins.
import { spawn } from 'node:child_process';
import { TpError } from '../util/errors.js';

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
export type InteractiveMode = 'Never' | 'IfAvailable' | 'Always';

/** A kubeconfig user's `exec` section, validated. */
export interface ExecPluginSpec {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: ReadonlyArray<{ name: string; value: string }>;
  readonly interactiveMode: InteractiveMode;
  readonly provideClusterInfo: boolean;
  readonly installHint: string;
}

/** What a plugin handed out. Certificate and key are PEM. */
export interface ExecCredential {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  /** Epoch ms; undefined: the plugin did not say (the credential is used until a 401). */
  readonly expiresAt?: number;
}

/** The cluster as KUBERNETES_EXEC_INFO describes it to a plugin with provideClusterInfo. */
export interface ExecClusterInfo {
  readonly server: string;
  readonly caData?: string; // base64
  readonly tlsServerName?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly proxyUrl?: string;
}

/** A process to start: command, arguments, environment, and what to write on its stdin. */
export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly input?: string;
}

/** How to start the plugin process: the CLI starts it as is, the daemon wraps it (run-as-user). */
export type CommandWrap = (plugin: Launch) => Launch;

export interface RunOptions {
  /** The environment the plugin starts from (the user's); the spec's env is added to it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the plugin runs; this process's working directory when not given. */
  readonly cwd?: string;
  readonly cluster?: ExecClusterInfo;
  /** A terminal is there to prompt on (the CLI's stdin is a TTY); the daemon never has one. */
  readonly terminal: boolean;
  readonly wrap?: CommandWrap;
  readonly timeoutMs?: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The `exec` section of a kubeconfig user (as client-node read it), validated as kubectl does. */
export function execPluginSpec(exec: unknown, userName: string): ExecPluginSpec {
  const e = (exec ?? {}) as Record<string, unknown>;
  const where = `kubeconfig user "${userName}": exec`;
  const apiVersion = str(e['apiVersion']);
  if (!EXEC_API_VERSIONS.includes(apiVersion))
    throw new TpError('config', `${where}.apiVersion "${apiVersion}" is not supported`, {
      hint: `use one of ${EXEC_API_VERSIONS.join(', ')}`,
    });
  const command = str(e['command']);
  if (command === '')
    throw new TpError('config', `${where}.command is empty`, { hint: 'name the credential plugin to run' });
  let mode = str(e['interactiveMode']);
  if (mode === '') {
    if (apiVersion.endsWith('/v1'))
      throw new TpError('config', `${where}.interactiveMode must be set for ${apiVersion}`, {
        hint: 'set it to Never, IfAvailable or Always',
      });
    mode = 'IfAvailable';
  }
  if (mode !== 'Never' && mode !== 'IfAvailable' && mode !== 'Always')
    throw new TpError('config', `${where}.interactiveMode "${mode}" is not valid`, {
      hint: 'set it to Never, IfAvailable or Always',
    });
  const env = Array.isArray(e['env'])
    ? (e['env'] as unknown[]).map((v) => {
        const r = (v ?? {}) as Record<string, unknown>;
        return { name: str(r['name']), value: str(r['value']) };
      })
    : [];
  return {
    apiVersion,
    command,
    args: Array.isArray(e['args']) ? (e['args'] as unknown[]).map(String) : [],
    env,
    interactiveMode: mode,
    provideClusterInfo: e['provideClusterInfo'] === true,
    installHint: str(e['installHint']),
  };
}

/** The one-line description of a plugin for messages (never its env, which may hold secrets). */
export const describePlugin = (spec: ExecPluginSpec): string => `exec credential plugin "${spec.command}"`;

/** KUBERNETES_EXEC_INFO, as client-go sets it. */
export function execInfo(spec: ExecPluginSpec, interactive: boolean, cluster?: ExecClusterInfo): string {
  const c =
    spec.provideClusterInfo && cluster !== undefined
      ? {
          cluster: {
            server: cluster.server,
            ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}),
            ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
            ...(cluster.insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
            ...(cluster.proxyUrl ? { 'proxy-url': cluster.proxyUrl } : {}),
          },
        }
      : {};
  return JSON.stringify({ apiVersion: spec.apiVersion, kind: 'ExecCredential', spec: { interactive, ...c } });
}

/** Reads a plugin's stdout: an ExecCredential of the spec's apiVersion with a token or a certificate. */
export function parseExecCredential(stdout: string, spec: ExecPluginSpec): ExecCredential {
  const bad = (what: string): TpError =>
    new TpError('cluster', `${describePlugin(spec)} ${what}`, {
      hint: 'run the plugin yourself to see what it prints (it must print an ExecCredential)',
    });
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw bad('printed something that is not JSON');
  }
  if (typeof obj !== 'object' || obj === null || obj['kind'] !== 'ExecCredential')
    throw bad('printed JSON that is not an ExecCredential');
  if (obj['apiVersion'] !== spec.apiVersion)
    throw bad(
      `returned apiVersion "${str(obj['apiVersion'])}", but the kubeconfig asks for "${spec.apiVersion}"`,
    );
  const status = (obj['status'] ?? {}) as Record<string, unknown>;
  const token = str(status['token']);
  const cert = str(status['clientCertificateData']);
  const key = str(status['clientKeyData']);
  if (token === '' && cert === '') throw bad('returned neither a token nor a client certificate');
  if ((cert === '') !== (key === ''))
    throw bad('returned a client certificate without its key, or the other way round');
  const exp = str(status['expirationTimestamp']);
  const expiresAt = exp === '' ? undefined : Date.parse(exp);
  if (expiresAt !== undefined && Number.isNaN(expiresAt))
    throw bad(`returned an invalid expirationTimestamp "${exp}"`);
  return {
    ...(token === '' ? {} : { token }),
    ...(cert === '' ? {} : { clientCertificateData: cert, clientKeyData: key }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs the plugin once and returns its credential; a clear error when it cannot or fails. */
export async function runExecPlugin(spec: ExecPluginSpec, o: RunOptions): Promise<ExecCredential> {
  const interactive = o.terminal && spec.interactiveMode !== 'Never';
  if (spec.interactiveMode === 'Always' && !interactive)
    throw new TpError(
      'config',
      `${describePlugin(spec)} has interactiveMode Always and there is no terminal to prompt on`,
      {
        hint: 'run telepresence connect in a terminal, or use a plugin configuration that does not prompt',
      },
    );
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
  for (const { name, value } of spec.env) env[name] = value;
  env['KUBERNETES_EXEC_INFO'] = execInfo(spec, interactive, o.cluster);
  const plugin: Launch = { command: spec.command, args: spec.args, env };
  const launch = o.wrap === undefined ? plugin : o.wrap(plugin);
  const child = spawn(launch.command, [...launch.args], {
    env: { ...launch.env },
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    // A prompting plugin talks to the user on the terminal (stdin and stderr), as kubectl lets it.
    stdio: [
      launch.input !== undefined ? 'pipe' : interactive ? 'inherit' : 'ignore',
      'pipe',
      interactive ? 'inherit' : 'pipe',
    ],
  });
  child.stdin?.on('error', () => undefined); // a wrapper that exits early: its status says why
  child.stdin?.end(launch.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = interactive ? undefined : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await new Promise<{ code: number | null; signal: string | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => clearTimeout(timer));
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TpError('config', `cannot run ${describePlugin(spec)}: ${result.error.message}`, {
      hint:
        missing && spec.installHint !== ''
          ? spec.installHint
          : "check the kubeconfig user's exec.command and PATH",
      cause: result.error,
    });
  }
  if (result.code !== 0) {
    const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    const how =
      result.signal === 'SIGKILL' && timer !== undefined
        ? `timed out after ${timeoutMs / 1000}s`
        : `exited with ${result.code ?? result.signal}`;
    throw new TpError('cluster', `${describePlugin(spec)} ${how}${said === '' ? '' : `: ${said}`}`, {
      hint:
        result.code === 127 && spec.installHint !== ''
          ? spec.installHint
          : 'run the plugin yourself (or kubectl get ns) to see why it fails',
    });
  }
  return parseExecCredential(stdout, spec);
}
