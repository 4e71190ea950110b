// One connection to the cluster: kubeconfig -> manager (port-forward or --manager-address) -> session
// (ArriveAsClient, Remain every 5 s, Depart on quit) -> ClusterInfo watch -> routed set -> VIF + routes ->
// DNS. Built step by step with progress; a failure undoes the steps already taken. While connected it
// follows ClusterInfo changes (routes follow) and survives manager outages: the watch reconnects with
// backoff, an expired session is re-created, and status shows the outage meanwhile.
import dns from 'node:dns/promises';
import net from 'node:net';
import { startDialResponder, type DialResponder } from '../intercept/dial-responder.js';
import { InterceptController } from '../intercept/intercepts.js';
import os from 'node:os';
import { status as GrpcStatus, type ServiceError, type ClientReadableStream } from '@grpc/grpc-js';
import type { daemon } from '@telepresence/rpc';
import { cidrFromIpNet, findRouteConflicts, formatCidr, parseCidr, type Cidr } from '@telepresence/subnets';
import type { Logger } from 'pino';
import { mergeConfig, type ClientConfig, type ConfigLayer } from '../config/config.js';
import { openManagerForward, type ManagerForward } from '../k8s/port-forward.js';
import { loadKube, type KubeAccess } from '../k8s/kube.js';
import {
  createManagerClient,
  createTunnelClient,
  MANAGER_RETRY_MAX_MS,
  ManagerApi,
  type ClusterInfo,
  type SessionInfo,
} from '../manager/manager-api.js';
import { conflictError, type ExistingRoute } from '../routing/conflicts.js';
import { computeRoutedSet, type RoutedSet } from '../routing/routed-set.js';
import { readRoutes } from '../routing/route-table.linux.js';
import { TpError } from '../util/errors.js';
import type { Run } from '../util/exec.js';
import { Vif } from '../vif/vif.js';
import { DnsService } from './dns-service.js';
import type { StateFile } from './state-file.js';

export const VERSION = '0.1.0';
const REMAIN_INTERVAL_MS = 5000;

export interface SessionDeps {
  readonly log: Logger;
  readonly run: Run;
  readonly state: StateFile;
  readonly logFile: string;
  readonly platform: NodeJS.Platform;
  readonly resolvConfPath?: string;
  /** Tests replace the route reader. */
  readonly readRoutes?: () => Promise<ExistingRoute[]>;
}

export type Progress = (step: string) => void;

/** The flags of a Connect request as a config layer (the highest one). */
export function flagsLayer(req: daemon.ConnectRequest): ConfigLayer {
  const layer: ConfigLayer = {};
  const check = (list: string[], flag: string): string[] => {
    for (const c of list) {
      try {
        parseCidr(c);
      } catch (e) {
        throw new TpError('user', `--${flag} ${c}: ${(e as Error).message}`, {
          hint: 'pass a CIDR such as 198.18.0.0/16',
        });
      }
    }
    return list;
  };
  if (req.alsoProxy.length + req.neverProxy.length + req.allowConflictingSubnets.length > 0) {
    layer.routing = {
      alsoProxy: check(req.alsoProxy, 'also-proxy'),
      neverProxy: check(req.neverProxy, 'never-proxy'),
      allowConflicting: check(req.allowConflictingSubnets, 'allow-conflicting-subnets'),
    };
  }
  const dns: NonNullable<ConfigLayer['dns']> = {};
  if (req.dns !== '') dns.upstream = req.dns;
  if (req.dnsIncludeSuffixes.length > 0) dns.includeSuffixes = req.dnsIncludeSuffixes;
  if (req.dnsExcludeSuffixes.length > 0) dns.excludeSuffixes = req.dnsExcludeSuffixes;
  if (Object.keys(dns).length > 0) layer.dns = dns;
  if (req.mappedNamespaces.length > 0) layer.cluster = { mappedNamespaces: req.mappedNamespaces };
  return layer;
}

/** The chart's pushed client defaults, from ClusterInfo (the lowest layer). */
export function pushedLayer(ci: ClusterInfo): ConfigLayer {
  const cidrs = (list: readonly { ip: Buffer; mask: number }[] | undefined): string[] =>
    (list ?? []).map((n) => formatCidr(cidrFromIpNet(n)));
  const layer: ConfigLayer = {
    routing: {
      alsoProxy: cidrs(ci.routing?.alsoProxySubnets),
      neverProxy: cidrs(ci.routing?.neverProxySubnets),
      allowConflicting: cidrs(ci.routing?.allowConflictingSubnets),
    },
  };
  const dns: NonNullable<ConfigLayer['dns']> = {};
  if ((ci.dns?.includeSuffixes.length ?? 0) > 0) dns.includeSuffixes = ci.dns?.includeSuffixes ?? [];
  if ((ci.dns?.excludeSuffixes.length ?? 0) > 0) dns.excludeSuffixes = ci.dns?.excludeSuffixes ?? [];
  layer.dns = dns;
  return layer;
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

function isGrpcError(e: unknown): e is ServiceError {
  return (
    typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'number'
  );
}

export class Session {
  private api!: ManagerApi;
  private forward: ManagerForward | undefined;
  private kube!: KubeAccess;
  private session!: SessionInfo;
  private managerVersion = '';
  private clusterInfo: ClusterInfo | undefined;
  private config!: ClientConfig;
  private routedSet: RoutedSet = { routed: [], neverProxied: [], droppedNeverProxy: [] };
  private vif: Vif | undefined;
  private dns: DnsService | undefined;
  private outage = '';
  private managerIps: string[] = [];
  private routeWarning = '';
  private watch: ClientReadableStream<ClusterInfo> | undefined;
  private remainTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private closed = false;
  private dialResponder: DialResponder | undefined;
  /** list / intercept / leave for this session (intercept/intercepts.ts). */
  readonly intercepts = new InterceptController({
    client: () => this.api.client,
    session: () => this.session,
    namespace: () => this.kube.namespace,
  });
  private queue: Promise<void> = Promise.resolve();
  private firstInfo!: { resolve: (ci: ClusterInfo) => void; reject: (e: unknown) => void };
  private readonly log: Logger;

  private constructor(
    private readonly deps: SessionDeps,
    private readonly request: daemon.ConnectRequest,
    private readonly fileLayer: ConfigLayer,
  ) {
    this.log = deps.log.child({ component: 'session' });
  }

  static async connect(
    deps: SessionDeps,
    request: daemon.ConnectRequest,
    fileLayer: ConfigLayer,
    progress: Progress,
  ): Promise<Session> {
    const s = new Session(deps, request, fileLayer);
    try {
      await s.start(progress);
      return s;
    } catch (e) {
      await s.close();
      throw e;
    }
  }

  private get flags(): ConfigLayer {
    return flagsLayer(this.request);
  }

  private async start(progress: Progress): Promise<void> {
    const flags = this.flags; // validates the flags before anything happens
    this.config = mergeConfig([this.fileLayer, flags]);
    this.deps.log.level = this.config.logLevel; // logLevels.rootDaemon from the user's config file

    progress('Reading kubeconfig');
    this.kube = await loadKube({
      kubeconfig: this.request.kubeconfig,
      kubeconfigYaml: this.request.kubeconfigYaml,
      context: this.request.context,
      namespace: this.request.namespace,
    });
    const managerNamespace = this.request.managerNamespace || 'ambassador';

    progress(
      this.request.managerAddress
        ? `Connecting to the traffic-manager at ${this.request.managerAddress}`
        : `Connecting to the traffic-manager in namespace ${managerNamespace}`,
    );
    let address = this.request.managerAddress;
    if (address !== '') this.managerIps = await resolveHostOf(address);
    else {
      this.forward = await openManagerForward(this.kube.config, managerNamespace, this.log);
      address = this.forward.address;
    }
    this.api = new ManagerApi(createManagerClient(address), createTunnelClient(address));
    const connectMs = this.config.timeouts.trafficManagerConnectMs;
    await new Promise<void>((resolve, reject) =>
      this.api.client.waitForReady(new Date(Date.now() + connectMs), (err) =>
        err
          ? reject(
              new TpError('cluster', `cannot reach the traffic-manager at ${address}: ${err.message}`, {
                hint: 'check that the traffic-manager is installed and running (or the --manager-address)',
              }),
            )
          : resolve(),
      ),
    );
    // The tunnels' own connection, made now: the first flow does not wait for it, and a problem shows here.
    await this.api.tunnels
      .connect?.()
      .catch((e: unknown) =>
        this.log.warn({ err: (e as Error).message }, 'no tunnel connection to the traffic-manager yet'),
      );
    const version = await this.api.version();
    this.managerVersion = version.info?.version ?? '';

    progress('Creating session');
    await this.arrive();
    // Inbound intercept flows: the manager asks this client to dial 127.0.0.1:LOCAL for them.
    this.dialResponder = startDialResponder({
      client: () => this.api.client,
      tunnels: () => this.api.tunnels,
      session: () => this.session,
      log: this.log,
    });

    progress('Waiting for cluster info');
    const first = new Promise<ClusterInfo>((resolve, reject) => (this.firstInfo = { resolve, reject }));
    this.startWatch();
    const ci = await Promise.race([
      first,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new TpError('cluster', 'the traffic-manager sent no cluster info in time', {
                hint: 'see the traffic-manager logs',
              }),
            ),
          connectMs,
        ).unref(),
      ),
    ]);

    progress('Computing routes');
    const routed = await this.computeRoutes(ci, true);

    progress('Creating the network interface');
    this.vif = await Vif.open({
      log: this.log.child({ component: 'vif' }),
      tunnelClient: () => this.api.tunnels,
      sessionId: () => this.session.sessionId,
      dialTimeoutMs: this.config.timeouts.endpointDialMs,
      roundtripLatencyMs: this.config.timeouts.roundtripLatencyMs,
      beforeCreate: (tun) => this.deps.state.update((s) => ({ ...s, tun })),
    });
    await this.vif.setRoutes(routed);
    await this.deps.state.update((s) => ({
      ...s,
      routes: routed.map((c) => `${formatCidr(c)} dev ${this.vif?.name ?? ''}`),
    }));

    progress('Configuring DNS');
    // The VIF's DNS address lets systemd-resolved route the cluster's domains through the TUN.
    const localRoutes = await (this.deps.readRoutes ?? (() => readRoutes(this.deps.run)))();
    const vifDns =
      this.deps.platform === 'linux' ? await this.vif.enableDns(localRoutes.map((r) => r.cidr)) : undefined;
    this.dns = await DnsService.start({
      ...(vifDns === undefined ? {} : { vif: vifDns }),
      log: this.log,
      run: this.deps.run,
      platform: this.deps.platform,
      upstream: this.config.dns.upstream,
      ...(this.deps.resolvConfPath === undefined ? {} : { resolvConfPath: this.deps.resolvConfPath }),
      api: () => this.api,
      session: () => this.session,
      lookupTimeoutMs: this.config.dns.lookupTimeoutMs,
      routing: this.dnsRouting(ci),
      beforeChange: (t) =>
        this.deps.state.update((s) => ({
          ...s,
          nftTables: [
            ...s.nftTables.filter((x) => x.name !== t.nftTable),
            { family: t.family, name: t.nftTable },
          ],
        })),
    });

    this.remainTimer = setInterval(() => void this.remain(), REMAIN_INTERVAL_MS);
    this.remainTimer.unref();
  }

  private async arrive(): Promise<void> {
    this.session = await this.api.arriveAsClient({
      name: `${os.userInfo().username}@${os.hostname()}`,
      namespace: this.kube.namespace,
      installId: os.hostname(),
      version: VERSION,
    });
    this.log.info({ session: this.session.sessionId }, 'arrived as client');
  }

  private async remain(): Promise<void> {
    if (this.closed) return;
    try {
      await this.api.remain(this.session);
      if (this.outage.startsWith('keep-alive')) this.outage = '';
    } catch (e) {
      if (isGrpcError(e) && e.code === GrpcStatus.NOT_FOUND) {
        this.log.warn('session expired at the traffic-manager; arriving again');
        try {
          await this.arrive();
          this.restartWatch();
        } catch (e2) {
          this.setOutage(`keep-alive: ${(e2 as Error).message}`);
        }
      } else {
        this.setOutage(`keep-alive: ${isGrpcError(e) ? e.details || e.message : (e as Error).message}`);
      }
    }
  }

  private setOutage(text: string): void {
    if (this.outage === '') this.log.warn({ outage: text }, 'traffic-manager outage');
    this.outage = text;
  }

  private startWatch(): void {
    if (this.closed) return;
    const call = this.api.client.watchClusterInfo({ session: this.session });
    this.watch = call;
    call.on('data', (ci: ClusterInfo) => {
      if (this.outage !== '') this.log.info('traffic-manager reachable again');
      this.outage = '';
      this.backoffMs = 100;
      if (this.clusterInfo === undefined) {
        this.clusterInfo = ci;
        this.firstInfo.resolve(ci);
        return;
      }
      this.clusterInfo = ci;
      this.queue = this.queue
        .then(() => this.onClusterInfo(ci))
        .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'applying cluster info failed'));
    });
    const onEnd = (e?: unknown): void => {
      if (this.watch !== call || this.closed) return;
      this.watch = undefined;
      if (isGrpcError(e) && e.code === GrpcStatus.CANCELLED) return;
      const why =
        e === undefined ? 'cluster info stream ended' : isGrpcError(e) ? e.details || e.message : String(e);
      this.setOutage(`traffic-manager unreachable: ${why}`);
      if (this.clusterInfo === undefined) {
        this.firstInfo.reject(
          new TpError('cluster', `watching cluster info: ${why}`, { hint: 'see the traffic-manager logs' }),
        );
        return;
      }
      if (isGrpcError(e) && e.code === GrpcStatus.NOT_FOUND) void this.remain();
      this.reconnectTimer = setTimeout(() => this.startWatch(), this.backoffMs);
      this.reconnectTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, MANAGER_RETRY_MAX_MS);
    };
    call.on('error', onEnd);
    call.on('end', () => onEnd());
  }

  private restartWatch(): void {
    const old = this.watch;
    this.watch = undefined;
    old?.cancel();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.startWatch();
  }

  private dnsRouting(ci: ClusterInfo): {
    clusterDomain: string;
    connectedNamespace: string;
    mappedNamespaces: readonly string[];
    includeSuffixes: readonly string[];
    excludeSuffixes: readonly string[];
  } {
    return {
      clusterDomain: (ci.dns?.clusterDomain || 'cluster.local.').replace(/\.$/, ''),
      connectedNamespace: this.kube.namespace,
      mappedNamespaces: this.config.cluster.mappedNamespaces,
      includeSuffixes: this.config.dns.includeSuffixes,
      excludeSuffixes: this.config.dns.excludeSuffixes,
    };
  }

  /** Recomputes the routed set for a ClusterInfo; conflicts fail the first time and are skipped later. */
  private async computeRoutes(ci: ClusterInfo, initial: boolean): Promise<Cidr[]> {
    this.config = mergeConfig([pushedLayer(ci), this.fileLayer, this.flags]);
    const parse = (list: readonly string[]): Cidr[] => list.map((c) => parseCidr(c));
    const set = computeRoutedSet({
      serviceSubnet: ci.serviceSubnet ? cidrFromIpNet(ci.serviceSubnet) : undefined,
      podSubnets: ci.podSubnets.map((n) => cidrFromIpNet(n)),
      alsoProxy: parse(this.config.routing.alsoProxy),
      neverProxy: parse(this.config.routing.neverProxy),
      // The manager itself must never be reached through the TUN either (with --manager-address).
      apiServerIps: [...this.kube.apiServerIps, ...this.managerIps],
    });
    for (const d of set.droppedNeverProxy)
      this.log.info(`Dropping never-proxy "${formatCidr(d)}" because it is not routed`);
    const routes = await (this.deps.readRoutes ?? (() => readRoutes(this.deps.run)))();
    const conflicts = findRouteConflicts(set.routed, routes, {
      allow: parse(this.config.routing.allowConflicting),
      ownInterfaces: this.vif ? [this.vif.name] : [],
    });
    let routed = [...set.routed];
    this.routeWarning = '';
    if (conflicts.length > 0) {
      const err = conflictError(conflicts);
      if (initial) throw err;
      this.routeWarning = `not routed: ${err.message}`;
      this.log.error(
        { err: err.message },
        'route conflict after a cluster change; conflicting subnets left out',
      );
      const bad = new Set(conflicts.map((c) => formatCidr(c.subnet)));
      routed = routed.filter((c) => !bad.has(formatCidr(c)));
    }
    this.routedSet = { ...set, routed };
    return routed;
  }

  private async onClusterInfo(ci: ClusterInfo): Promise<void> {
    if (this.closed) return;
    const routed = await this.computeRoutes(ci, false);
    await this.vif?.setRoutes(routed);
    await this.deps.state.update((s) => ({
      ...s,
      routes: routed.map((c) => `${formatCidr(c)} dev ${this.vif?.name ?? ''}`),
    }));
    this.dns?.updateRouting(this.dnsRouting(ci));
  }

  status(): daemon.StatusResponse {
    const dns = this.dns?.status();
    const counters = this.vif?.counters;
    return {
      connected: true,
      sessionId: this.session?.sessionId ?? '',
      managerVersion: this.managerVersion,
      namespace: this.kube?.namespace ?? '',
      managerNamespace:
        this.request.managerAddress !== '' ? '' : this.request.managerNamespace || 'ambassador',
      routedSubnets: (this.vif?.routedSubnets ?? []).map((c) => formatCidr(c)),
      neverProxiedSubnets: this.routedSet.neverProxied.map((c) => formatCidr(c)),
      dns: dns
        ? {
            mode: dns.mode,
            localAddress: dns.localAddress,
            upstream: dns.upstream,
            includeSuffixes: dns.includeSuffixes,
            excludeSuffixes: dns.excludeSuffixes,
            mappedNamespaces: dns.mappedNamespaces,
            clusterDomain: dns.clusterDomain,
            recursion: { dns: dns.recursion },
            probeReason: dns.probeReason,
          }
        : undefined,
      counters: {
        flowsOpen: counters?.flowsOpen ?? 0,
        flowsTotal: counters?.flowsTotal ?? 0,
        bytesOut: counters?.bytesOut ?? 0,
        bytesIn: counters?.bytesIn ?? 0,
        dnsQueries: dns?.queries ?? 0,
        dnsCacheHits: dns?.cacheHits ?? 0,
      },
      outage: [this.outage, this.routeWarning].filter((s) => s !== '').join('; '),
      logFile: this.deps.logFile,
      tunName: this.vif?.name ?? '',
    };
  }

  /** Departs and removes everything this session created. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.remainTimer) clearInterval(this.remainTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.watch?.cancel();
    this.dialResponder?.stop();
    const step = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, `${what} failed during quit`);
      }
    };
    // DNS first: the machine's resolver must work again before anything else can go wrong.
    await step('removing DNS', () => this.dns?.close());
    await step('departing', async () => {
      if (this.session !== undefined && this.outage === '') await this.api.depart(this.session, 2000);
    });
    await step('closing the VIF', () => this.vif?.close());
    await step('closing the port-forward', () => this.forward?.close());
    await step('closing the manager connection', () => this.api?.close());
    await this.queue.catch(() => undefined);
  }
}
