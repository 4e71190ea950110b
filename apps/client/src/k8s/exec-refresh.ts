// The exec plugin between CLI and daemon: the CLI puts the kubeconfig user's `exec` section, its own
// environment and working directory, and when the credential it got expires into the Connect request;
// the daemon runs the plugin again from that, as the connecting user (the wrap), before expiry.
import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { daemon } from '@telepresence/rpc';
import type { Logger } from 'pino';
import { CredentialRefresher } from './credential-refresher.js';
import {
  describePlugin,
  execPluginSpec,
  runExecPlugin,
  type CommandWrap,
  type ExecClusterInfo,
  type ExecCredential,
  type ExecPluginSpec,
} from './exec-credential.js';
import { attachRefresher, credentialOfUser, refresherOf } from './refreshed-kubeconfig.js';

/** The Connect request's ExecPlugin for a plugin the CLI ran with `env` in `cwd`. */
export function execPluginMessage(
  spec: ExecPluginSpec,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  credential: ExecCredential,
): daemon.ExecPlugin {
  return {
    apiVersion: spec.apiVersion,
    command: spec.command,
    args: [...spec.args],
    env: spec.env.map((e) => ({ ...e })),
    interactiveMode: spec.interactiveMode,
    provideClusterInfo: spec.provideClusterInfo,
    installHint: spec.installHint,
    userEnv: Object.entries(env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([name, value]) => ({ name, value })),
    workingDir: cwd,
    initialExpiration: credential.expiresAt === undefined ? '' : new Date(credential.expiresAt).toISOString(),
  };
}

/** The cluster of `kc` as KUBERNETES_EXEC_INFO shows it to a plugin that asks (provideClusterInfo). */
export function clusterInfoOf(kc: KubeConfig): ExecClusterInfo | undefined {
  const c = kc.getCurrentCluster();
  if (c === null) return undefined;
  return {
    server: c.server,
    ...(c.caData === undefined ? {} : { caData: c.caData }),
    ...(c.tlsServerName === undefined ? {} : { tlsServerName: c.tlsServerName }),
    ...(c.skipTLSVerify ? { insecureSkipTlsVerify: true } : {}),
    ...(c.proxyUrl === undefined ? {} : { proxyUrl: c.proxyUrl }),
  };
}

export interface ExecRefreshOptions {
  /** How the plugin process is started as the connecting user (run-as-user.linux.ts). */
  readonly wrap: () => CommandWrap;
  readonly log: Logger;
  /** Tests: a clock and timers for the refresher. */
  readonly refresher?: Pick<ConstructorParameters<typeof CredentialRefresher>[1], 'now' | 'timers'>;
}

/**
 * Makes the daemon's `kc` (the CLI's self-contained kubeconfig) keep the plugin's credential fresh by
 * running the plugin again as the connecting user. Validates the request's plugin as the CLI did.
 */
export function startExecRefresh(
  kc: KubeConfig,
  m: daemon.ExecPlugin,
  o: ExecRefreshOptions,
): CredentialRefresher {
  const user = kc.getCurrentUser();
  if (user === null) throw new Error('the kubeconfig has no current user');
  const spec = execPluginSpec(
    {
      apiVersion: m.apiVersion,
      command: m.command,
      args: m.args,
      env: m.env,
      interactiveMode: m.interactiveMode,
      provideClusterInfo: m.provideClusterInfo,
      installHint: m.installHint,
    },
    user.name,
  );
  const env = Object.fromEntries(m.userEnv.map((e) => [e.name, e.value]));
  const expiresAt = m.initialExpiration === '' ? undefined : Date.parse(m.initialExpiration);
  const cluster = clusterInfoOf(kc);
  const cannotRefresh =
    spec.interactiveMode === 'Always'
      ? `${describePlugin(spec)} has interactiveMode Always: the daemon has no terminal to run it again; when the credential expires, run telepresence quit and telepresence connect`
      : undefined;
  const log = o.log.child({ component: 'credentials' });
  const refresher = new CredentialRefresher(
    credentialOfUser(user, Number.isNaN(expiresAt) ? undefined : expiresAt),
    {
      ...o.refresher,
      ...(cannotRefresh === undefined ? {} : { cannotRefresh }),
      fetch: () =>
        runExecPlugin(spec, {
          env,
          // The CLI's working directory (relative plugin paths resolve there), or / once it is gone.
          cwd: m.workingDir !== '' && fs.existsSync(m.workingDir) ? m.workingDir : '/',
          ...(cluster === undefined ? {} : { cluster }),
          terminal: false,
          wrap: o.wrap(),
        }),
      onRefresh: (c) =>
        log.info(
          {
            plugin: spec.command,
            expiresAt: c.expiresAt === undefined ? '' : new Date(c.expiresAt).toISOString(),
          },
          'credential refreshed by the exec plugin',
        ),
      onError: (e) =>
        log.warn({ plugin: spec.command, err: (e as Error).message }, 'credential refresh failed'),
    },
  );
  if (cannotRefresh !== undefined) log.warn({ plugin: spec.command }, cannotRefresh);
  attachRefresher(kc, refresher);
  return refresher;
}

/** For `telepresence status`: where the connection's credential comes from and how its refresh goes. */
export function credentialStatus(kc: KubeConfig | undefined): daemon.CredentialStatus | undefined {
  if (kc === undefined) return undefined;
  const r = refresherOf(kc);
  if (r === undefined)
    return { source: 'kubeconfig', expiresAt: '', nextRefresh: '', refreshes: 0, problem: '' };
  const s = r.status();
  const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());
  return {
    source: 'exec plugin',
    expiresAt: iso(s.expiresAt),
    nextRefresh: iso(s.nextRefreshAt),
    refreshes: s.refreshes,
    problem: s.problem,
  };
}
