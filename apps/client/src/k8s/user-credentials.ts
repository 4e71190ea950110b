// Kubernetes credentials obtained as the CLI's user, for the root daemon: the user's kubeconfig is read,
// and exec credential plugins and token files run/are read, in the CLI process (as the user, with the
// user's environment). The daemon gets one self-contained context with the results: the server, its CA,
// and a bearer token or client certificate. For an exec plugin it also gets the plugin's configuration
// with this environment and working directory, to run the plugin again as this user before the
// credential expires (exec-refresh.ts); other credentials are taken once, at connect.
import fs from 'node:fs';
import path from 'node:path';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import type { daemon } from '@telepresence/rpc';
import { TpError } from '../util/errors.js';
import { execPluginSpec, runExecPlugin } from './exec-credential.js';
import { clusterInfoOf, execPluginMessage } from './exec-refresh.js';

export interface UserKubeOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  /** The user's environment (KUBECONFIG and HOME: to say clearly when there is no kubeconfig at all). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The working directory an exec plugin runs in (the CLI's). */
  readonly cwd?: string;
  /** Whether an interactive exec plugin may prompt (stdin is a terminal). */
  readonly terminal?: boolean;
}

export interface DaemonKubeconfig {
  /** The kubeconfig (JSON, a YAML subset) the daemon is to use, with credentials resolved as this user. */
  readonly yaml: string;
  /** The exec plugin that gave the credential, for the daemon to run again; undefined for others. */
  readonly execPlugin?: daemon.ExecPlugin;
}

interface AppliedOptions {
  headers?: Record<string, string>;
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

const base64 = (v: Buffer | string | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v).toString('base64');

export async function kubeconfigForDaemon(options: UserKubeOptions): Promise<DaemonKubeconfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const where = options.kubeconfig || '$KUBECONFIG or ~/.kube/config';
  const home = options.env?.['HOME'];
  if (
    !options.kubeconfig &&
    !options.env?.['KUBECONFIG'] &&
    !(home && fs.existsSync(path.join(home, '.kube/config')))
  )
    throw new TpError(
      'config',
      'no kubeconfig: --kubeconfig not given, $KUBECONFIG not set, no ~/.kube/config',
      {
        hint: 'pass --kubeconfig FILE or set KUBECONFIG',
      },
    );
  try {
    if (options.kubeconfig !== undefined && options.kubeconfig !== '') kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new TpError('config', `reading kubeconfig ${where}: ${(e as Error).message}`, {
      hint: 'check --kubeconfig or $KUBECONFIG',
      cause: e,
    });
  }
  if (options.context !== undefined && options.context !== '') {
    if (!kc.getContexts().some((c) => c.name === options.context))
      throw new TpError('config', `context "${options.context}" not found in kubeconfig ${where}`, {
        hint: `use one of: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || '(none)'
        }`,
      });
    kc.setCurrentContext(options.context);
  }
  const contextName = kc.getCurrentContext();
  const context = kc.getContextObject(contextName);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (context === null || cluster === null)
    throw new TpError('config', `kubeconfig ${where} has no current context`, {
      hint: 'pass --context or set one with kubectl config use-context',
    });
  const applied: AppliedOptions = {};
  // An exec plugin runs here through exec-credential.ts (the one place that runs plugins), not through
  // client-node's ExecAuth: the daemon runs it again the same way.
  const exec = user?.exec as unknown;
  const plugin = exec ? execPluginSpec(exec, user?.name ?? '') : undefined;
  try {
    if (plugin !== undefined && user !== null) {
      const withoutExec = new KubeConfig();
      withoutExec.loadFromOptions({
        clusters: kc.getClusters(),
        contexts: kc.getContexts(),
        currentContext: contextName,
        users: kc.getUsers().map((u) => (u.name === user.name ? { ...u, exec: undefined } : u)),
      });
      await withoutExec.applyToHTTPSOptions(applied);
    } else await kc.applyToHTTPSOptions(applied);
  } catch (e) {
    throw new TpError('config', `getting credentials for context "${contextName}": ${(e as Error).message}`, {
      hint: 'check the kubeconfig user (its exec plugin or token) with kubectl get ns',
      cause: e,
    });
  }
  const clusterInfo = clusterInfoOf(kc);
  const credential =
    plugin === undefined
      ? undefined
      : await runExecPlugin(plugin, {
          env: options.env ?? {},
          // No cwd: the CLI's own, as is (the user may not be able to chdir into it again).
          terminal: options.terminal ?? false,
          ...(clusterInfo === undefined ? {} : { cluster: clusterInfo }),
        });
  if (credential?.clientCertificateData !== undefined && credential.clientKeyData !== undefined) {
    applied.cert = credential.clientCertificateData;
    applied.key = credential.clientKeyData;
  }
  const token = credential?.token ?? /^Bearer (.+)$/.exec(applied.headers?.['Authorization'] ?? '')?.[1];
  const outCluster: Cluster = {
    name: cluster.name,
    server: cluster.server,
    skipTLSVerify: cluster.skipTLSVerify,
    ...(cluster.tlsServerName === undefined ? {} : { tlsServerName: cluster.tlsServerName }),
    ...(applied.ca === undefined ? {} : { caData: base64(applied.ca)! }),
  };
  const userName = user?.name ?? 'user';
  const outUser: User = {
    name: userName,
    ...(token === undefined ? {} : { token }),
    ...(applied.cert === undefined ? {} : { certData: base64(applied.cert)! }),
    ...(applied.key === undefined ? {} : { keyData: base64(applied.key)! }),
    ...(user?.username === undefined ? {} : { username: user.username, password: user.password ?? '' }),
  };
  const outContext: Context = {
    name: contextName,
    cluster: cluster.name,
    user: userName,
    ...(context.namespace === undefined ? {} : { namespace: context.namespace }),
  };
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [outCluster],
    users: [outUser],
    contexts: [outContext],
    currentContext: contextName,
  });
  return {
    yaml: out.exportConfig(),
    ...(plugin === undefined || credential === undefined
      ? {}
      : {
          execPlugin: execPluginMessage(plugin, options.env ?? {}, options.cwd ?? process.cwd(), credential),
        }),
  };
}
