// What a session does to the machine and the cluster, as one set of parts the session is given: the
// kubeconfig, the manager's address (port-forward or a resolved --manager-address), the manager API, the
// TUN and the route table, DNS and the dial responder. `systemParts` are the real ones (Linux TUN and
// routes); unit tests give in-memory fakes (session.spec.ts).
import dns from 'node:dns/promises';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  startDialResponder,
  type DialResponder,
  type DialResponderDeps,
} from '../intercept/dial-responder.js';
import type { daemon } from '@telepresence/rpc';
import type { CredentialRefresher } from '../k8s/credential-refresher.js';
import { startExecRefresh } from '../k8s/exec-refresh.js';
import { linuxRunAs, type ProcessOwner } from '../k8s/run-as-user.linux.js';
import { loadKube, type KubeAccess, type KubeOptions } from '../k8s/kube.js';
import { managerTls, type ManagerTls } from '../k8s/manager-tls.js';
import { obtainManagerToken, type ManagerToken } from '../k8s/manager-token.js';
import { kubeNamespaceSource, type NamespaceSource } from '../k8s/namespace-watch.js';
import { openManagerForward, type ManagerForward } from '../k8s/port-forward.js';
import {
  GrpcManagerApi,
  createManagerClient,
  createTunnelClient,
  type CallMetadata,
  type ManagerApi,
} from '../manager/manager-api.js';
import type { RouteTable } from '../routing/route-table.js';
import { linuxRouteTable } from '../routing/route-table.linux.js';
import { TpError } from '../util/errors.js';
import type { Run } from '../util/exec.js';
import { selfCommand } from '../util/self-command.js';
import type { OpenTun } from '../vif/tun.js';
import { openLinuxTun } from '../vif/tun.linux.js';
import { DnsService, type DnsServiceOptions } from './dns-service.js';

/** What the session uses of its DNS service. */
export type SessionDns = Pick<DnsService, 'status' | 'updateRouting' | 'flush' | 'close'>;

export interface DialManagerOptions {
  readonly token?: () => string | undefined;
  /** A call was refused UNAUTHENTICATED (the token may need a refresh). */
  readonly onUnauthenticated?: () => void;
  readonly tls?: ManagerTls;
  readonly callMetadata?: CallMetadata;
  /** Tunnel connections over this byte stream (a port-forward) instead of TCP to the address. */
  readonly tunnelConnection?: () => Duplex;
}

export interface SessionSystem {
  loadKube(options: KubeOptions): Promise<KubeAccess>;
  openManagerForward(kc: KubeConfig, namespace: string, log: Logger): Promise<ManagerForward>;
  /** The cluster's namespaces as the user sees them (list and watch), for the mapped namespaces. */
  namespaceSource(kc: KubeConfig): NamespaceSource;
  /** The IPs of a --manager-address host (kept out of the routed set). */
  resolveManagerHost(address: string): Promise<string[]>;
  /** The manager API at HOST:PORT: every call carries the token (and `callMetadata`); TLS when given. */
  dialManager(address: string, options: DialManagerOptions): ManagerApi;
  /** The token the manager verifies (the kubeconfig's bearer token, or a TokenRequest; k8s/manager-token.ts). */
  managerToken(kc: KubeConfig, namespace: string, onRenewError: (e: unknown) => void): Promise<ManagerToken>;
  /**
   * Keeps `kc`'s exec plugin credential fresh: runs the plugin again as the daemon's owner before it
   * expires (k8s/exec-refresh.ts).
   */
  refreshCredentials(kc: KubeConfig, plugin: daemon.ExecPlugin, log: Logger): CredentialRefresher;
  /** The CA and name to verify a manager reached directly (k8s/manager-tls.ts). */
  managerTls(kc: KubeConfig, namespace: string): Promise<ManagerTls>;
  readonly openTun: OpenTun;
  readonly routeTable: RouteTable;
  startDns(options: DnsServiceOptions): Promise<SessionDns>;
  startDialResponder(deps: DialResponderDeps): DialResponder;
}

/**
 * The real parts. `owner`: who exec credential plugins run as; `mainScript`: how this program starts
 * itself (the second stage of running a plugin as the owner, util/self-command.ts).
 */
export function systemParts(
  run: Run,
  owner: ProcessOwner = { uid: 0, gid: 0 },
  mainScript = '',
): SessionSystem {
  const stage = selfCommand(mainScript, ['run-credential-plugin']);
  return {
    refreshCredentials: (kc, plugin, log) =>
      startExecRefresh(kc, plugin, { wrap: () => linuxRunAs(owner, { stage }), log }),
    loadKube,
    openManagerForward,
    namespaceSource: kubeNamespaceSource,
    resolveManagerHost: resolveHostOf,
    dialManager: (address, { token, tls, callMetadata, onUnauthenticated, tunnelConnection }) =>
      new GrpcManagerApi(createManagerClient(address, token, tls, onUnauthenticated), {
        tunnels: createTunnelClient(address, token, tls, tunnelConnection),
        ...(callMetadata === undefined ? {} : { callMetadata }),
      }),
    managerToken: obtainManagerToken,
    managerTls,
    openTun: openLinuxTun,
    routeTable: linuxRouteTable(run),
    startDns: (options) => DnsService.start(options),
    startDialResponder,
  };
}

/** The IPs of a HOST:PORT (or [v6]:PORT) manager address. */
async function resolveHostOf(address: string): Promise<string[]> {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (net.isIP(host) !== 0) return [host];
  try {
    return (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch (e) {
    throw new TpError('user', `cannot resolve --manager-address host "${host}": ${(e as Error).message}`, {
      hint: 'pass HOST:PORT with a resolvable host or an IP',
    });
  }
}
