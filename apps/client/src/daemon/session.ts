// One connection to the cluster: kubeconfig -> manager (port-forward or --manager-address) -> session
// (manager/manager-connection.ts: ArriveAsClient, Remain every 5 s, Depart on quit) -> ClusterInfo watch
// -> routed set -> VIF + routes -> DNS. Built step by step with progress; a failure undoes the steps
// already taken. While connected it follows ClusterInfo changes (routes follow) and survives manager
// outages (the connection's job; status shows them). Everything it does to the machine goes through
// SessionSystem (session-system.ts), so its logic is tested with in-memory parts (session.spec.ts).
import type { daemon } from '@telepresence/rpc';
import { cidrFromIpNet, findRouteConflicts, formatCidr, parseCidr, type Cidr } from '@telepresence/subnets';
import type { Logger } from 'pino';
import { mergeConfig, type ClientConfig, type ConfigLayer } from '../config/config.js';
import { flagsLayer, pushedLayer } from '../config/connect-layers.js';
import type { DialResponder } from '../intercept/dial-responder.js';
import { InterceptController } from '../intercept/intercepts.js';
import { EngagementKeeper } from '../intercept/reengage.js';
import type { CredentialRefresher } from '../k8s/credential-refresher.js';
import { credentialStatus } from '../k8s/exec-refresh.js';
import type { KubeAccess } from '../k8s/kube.js';
import { parseManagerAddress } from '../k8s/manager-tls.js';
import { managerAuthError, type ManagerToken } from '../k8s/manager-token.js';
import { NamespaceWatch } from '../k8s/namespace-watch.js';
import { reportUnauthorized } from '../k8s/refreshed-kubeconfig.js';
import type { ManagerForward } from '../k8s/port-forward.js';
import type { CallMetadata, ClusterInfo } from '../manager/manager-api.js';
import { ManagerConnection, VERSION } from '../manager/manager-connection.js';
import { conflictError } from '../routing/conflicts.js';
import { computeRoutedSet, type RoutedSet } from '../routing/routed-set.js';
import { TpError } from '../util/errors.js';
import type { Run } from '../util/exec.js';
import { Vif } from '../vif/vif.js';
import { systemParts, type SessionDns, type SessionSystem } from './session-system.js';
import type { StateFile } from './state-file.js';

export { VERSION };
// The config layers of a connect (config/connect-layers.ts), re-exported for the daemon and its tests.
export { flagsLayer, pushedLayer };

export interface SessionDeps {
  readonly log: Logger;
  readonly run: Run;
  readonly state: StateFile;
  readonly logFile: string;
  readonly platform: NodeJS.Platform;
  readonly resolvConfPath?: string;
  /** The machine and cluster parts; systemParts(run) if not given (tests give in-memory ones). */
  readonly system?: SessionSystem;
  /** Metadata for every manager call (credentials). */
  readonly callMetadata?: CallMetadata;
  /** Tests: no jitter in the manager connection's backoff. */
  readonly random?: () => number;
  /** The user the daemon serves (its socket's owner): exec credential plugins run again as them. */
  readonly owner?: { uid: number; gid: number };
  /** How this program starts itself (util/self-command.ts). */
  readonly mainScript?: string;
}

export type Progress = (step: string) => void;

export class Session {
  private conn: ManagerConnection | undefined;
  private forward: ManagerForward | undefined;
  private kube: KubeAccess | undefined;
  private managerVersion = '';
  private config!: ClientConfig;
  private routedSet: RoutedSet = { routed: [], neverProxied: [], droppedNeverProxy: [] };
  private vif: Vif | undefined;
  private dns: SessionDns | undefined;
  private managerIps: string[] = [];
  private routeWarning = '';
  /** The latest ClusterInfo (DNS routing is recomputed from it when the mapped namespaces change). */
  private lastClusterInfo: ClusterInfo | undefined;
  private closed = false;
  private dialResponder: DialResponder | undefined;
  /** Who we are to the manager: a Kubernetes token it verifies (k8s/manager-token.ts). */
  private managerToken: ManagerToken | undefined;
  /** Keeps an exec plugin's credential fresh (k8s/exec-refresh.ts); none for other credentials. */
  private credentials: CredentialRefresher | undefined;
  /** The mapped namespaces, following the cluster (k8s/namespace-watch.ts). */
  private namespaces: NamespaceWatch | undefined;
  /** Keeps the user's intercepts across sessions (a restarted manager forgets them). */
  private readonly engagements: EngagementKeeper;
  /** list / intercept / leave for this session (intercept/intercepts.ts). */
  readonly intercepts: InterceptController;
  /** ClusterInfo changes, applied one after the other. */
  private queue: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly system: SessionSystem;

  private constructor(
    private readonly deps: SessionDeps,
    private readonly request: daemon.ConnectRequest,
    private readonly fileLayer: ConfigLayer,
  ) {
    this.log = deps.log.child({ component: 'session' });
    this.system = deps.system ?? systemParts(deps.run, deps.owner, deps.mainScript);
    this.engagements = new EngagementKeeper({
      client: () => this.manager.api.client,
      session: () => this.conn?.session,
      log: this.log,
      onChange: () => this.dns?.flush(),
      ...(deps.callMetadata === undefined ? {} : { callMetadata: deps.callMetadata }),
    });
    this.intercepts = new InterceptController({
      client: () => this.manager.api.client,
      session: () => this.conn?.session,
      namespace: () => this.kube?.namespace ?? '',
      engagements: () => this.engagements,
      onChange: () => this.dns?.flush(),
      ...(deps.callMetadata === undefined ? {} : { callMetadata: deps.callMetadata }),
    });
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

  /** The Connect request in effect, defaults resolved (connect-diff.ts compares a new one with it). */
  get activeRequest(): daemon.ConnectRequest {
    return {
      ...this.request,
      namespace: this.kube?.namespace ?? this.request.namespace,
      managerNamespace: this.request.managerNamespace || 'ambassador',
    };
  }

  private get flags(): ConfigLayer {
    return flagsLayer(this.request);
  }

  private get manager(): ManagerConnection {
    if (this.conn === undefined) throw new TpError('user', 'not connected to the traffic-manager');
    return this.conn;
  }

  private async start(progress: Progress): Promise<void> {
    const flags = this.flags; // validates the flags before anything happens
    this.config = mergeConfig([this.fileLayer, flags]);
    this.deps.log.level = this.config.logLevel; // logLevels.rootDaemon from the user's config file
    const system = this.system;

    progress('Reading kubeconfig');
    const kube = await system.loadKube({
      kubeconfig: this.request.kubeconfig,
      kubeconfigYaml: this.request.kubeconfigYaml,
      context: this.request.context,
      namespace: this.request.namespace,
    });
    this.kube = kube;
    // The CLI's self-contained kubeconfig holds what its exec plugin gave once; the daemon runs the
    // plugin again (as the connecting user) before that expires.
    const plugin = this.request.execPlugin;
    if (plugin !== undefined && this.request.kubeconfigYaml !== '')
      this.credentials = system.refreshCredentials(kube.config, plugin, this.log);
    const managerNamespace = this.request.managerNamespace || 'ambassador';

    progress(
      this.request.managerAddress
        ? `Connecting to the traffic-manager at ${this.request.managerAddress}`
        : `Connecting to the traffic-manager in namespace ${managerNamespace}`,
    );
    const direct = parseManagerAddress(this.request.managerAddress);
    let address = direct.address;
    if (address !== '') this.managerIps = await system.resolveManagerHost(address);
    else {
      this.forward = await system.openManagerForward(kube.config, managerNamespace, this.log);
      address = this.forward.address;
    }
    this.managerToken = await system.managerToken(kube.config, managerNamespace, (e) =>
      this.log.warn({ err: String(e) }, 'cannot renew the traffic-manager token'),
    );
    const managerToken = this.managerToken;
    // --manager-address https://HOST:PORT: verified with the CA the cluster publishes (k8s/manager-tls.ts).
    const tls = direct.tls ? await system.managerTls(kube.config, managerNamespace) : undefined;
    const conn = new ManagerConnection({
      api: system.dialManager(address, {
        token: () => managerToken.current(),
        onUnauthenticated: () => reportUnauthorized(kube.config),
        ...(tls === undefined ? {} : { tls }),
        ...(this.forward === undefined ? {} : { tunnelConnection: this.forward.dial }),
        ...(this.deps.callMetadata === undefined ? {} : { callMetadata: this.deps.callMetadata }),
      }),
      log: this.log,
      namespace: kube.namespace,
      onClusterInfo: (ci) => this.followClusterInfo(ci),
      onArrived: () => this.engagements.sessionChanged(),
      ...(this.deps.random === undefined ? {} : { random: this.deps.random }),
    });
    this.conn = conn;
    const connectMs = this.config.timeouts.trafficManagerConnectMs;
    this.managerVersion = await conn.reach(address, connectMs);

    progress('Creating session');
    await conn.arrive().catch((e: unknown) => {
      throw managerAuthError(e, this.managerToken) ?? e;
    });
    // Inbound intercept flows: the manager asks this client to dial 127.0.0.1:LOCAL for them.
    this.dialResponder = system.startDialResponder({
      api: conn.api,
      session: () => conn.session,
      log: this.log,
    });
    this.engagements.start();

    progress('Waiting for cluster info');
    const ci = await conn.firstClusterInfo(connectMs);
    this.lastClusterInfo = ci;

    progress('Computing routes');
    const routed = await this.computeRoutes(ci, true);

    progress('Creating the network interface');
    this.vif = await Vif.open({
      log: this.log.child({ component: 'vif' }),
      tunnelClient: () => conn.api.tunnels,
      sessionId: () => conn.session?.sessionId ?? '',
      dialTimeoutMs: this.config.timeouts.endpointDialMs,
      roundtripLatencyMs: this.config.timeouts.roundtripLatencyMs,
      beforeCreate: (tun) => this.deps.state.update((s) => ({ ...s, tun })),
      openTun: system.openTun,
      routeTable: system.routeTable,
    });
    await this.applyRoutes(routed);

    progress('Configuring DNS');
    this.namespaces = await NamespaceWatch.start({
      source: system.namespaceSource(kube.config),
      connected: kube.namespace,
      narrowTo: this.config.cluster.mappedNamespaces,
      log: this.log,
      onChange: () => {
        const last = this.lastClusterInfo;
        if (last) this.dns?.updateRouting(this.dnsRouting(last));
      },
    });
    // The VIF's DNS address lets systemd-resolved route the cluster's domains through the TUN.
    const localRoutes = await system.routeTable.read();
    const vifDns =
      this.deps.platform === 'linux' ? await this.vif.enableDns(localRoutes.map((r) => r.cidr)) : undefined;
    this.dns = await system.startDns({
      ...(vifDns === undefined ? {} : { vif: vifDns }),
      log: this.log,
      run: this.deps.run,
      platform: this.deps.platform,
      upstream: this.config.dns.upstream,
      ...(this.deps.resolvConfPath === undefined ? {} : { resolvConfPath: this.deps.resolvConfPath }),
      api: () => conn.api,
      session: () => {
        if (conn.session === undefined) throw new Error('no session with the traffic-manager');
        return conn.session;
      },
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

    conn.keepAlive();
  }

  private followClusterInfo(ci: ClusterInfo): void {
    this.lastClusterInfo = ci;
    this.queue = this.queue
      .then(() => this.onClusterInfo(ci))
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'applying cluster info failed'));
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
      connectedNamespace: this.kube?.namespace ?? '',
      mappedNamespaces: this.namespaces?.current().namespaces ?? this.config.cluster.mappedNamespaces,
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
      apiServerIps: [...(this.kube?.apiServerIps ?? []), ...this.managerIps],
    });
    for (const d of set.droppedNeverProxy)
      this.log.info(`Dropping never-proxy "${formatCidr(d)}" because it is not routed`);
    const routes = await this.system.routeTable.read();
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

  private async applyRoutes(routed: readonly Cidr[]): Promise<void> {
    await this.vif?.setRoutes(routed);
    await this.deps.state.update((s) => ({
      ...s,
      routes: routed.map((c) => `${formatCidr(c)} dev ${this.vif?.name ?? ''}`),
    }));
  }

  private async onClusterInfo(ci: ClusterInfo): Promise<void> {
    if (this.closed) return;
    const routed = await this.computeRoutes(ci, false);
    await this.applyRoutes(routed);
    this.dns?.updateRouting(this.dnsRouting(ci));
  }

  private isNamespace(name: string): boolean {
    return this.namespaces?.current().namespaces.includes(name) ?? false;
  }

  status(): daemon.StatusResponse {
    const dns = this.dns?.status();
    const counters = this.vif?.counters;
    return {
      connected: true,
      sessionId: this.conn?.session?.sessionId ?? '',
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
            // The namespaces (the server's routes also hold `svc`, which is no namespace).
            mappedNamespaces: dns.mappedNamespaces.filter((r) => r !== 'svc' || this.isNamespace('svc')),
            clusterDomain: dns.clusterDomain,
            recursion: { dns: dns.recursion },
            probeReason: dns.probeReason,
            mappedNamespacesReason: this.namespaces?.current().reason ?? '',
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
      outage: [this.conn?.outage ?? '', this.routeWarning].filter((s) => s !== '').join('; '),
      logFile: this.deps.logFile,
      tunName: this.vif?.name ?? '',
      intercepts: this.engagements.lines(),
      credentials: credentialStatus(this.kube?.config),
      pushedConfig: this.pushedConfig(),
    };
  }

  /** The chart's client values the manager pushed, as a config layer with its origin (config view). */
  private pushedConfig(): daemon.PushedConfig | undefined {
    const ci = this.lastClusterInfo;
    if (ci === undefined) return undefined;
    const where =
      this.request.managerAddress !== ''
        ? `at ${this.request.managerAddress}`
        : `in namespace ${this.request.managerNamespace || 'ambassador'}`;
    return {
      origin: `cluster: traffic-manager ${this.managerVersion || '(unknown version)'} ${where}, chart values client:`,
      layerJson: JSON.stringify(pushedLayer(ci)),
    };
  }

  /** Departs and removes everything this session created. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const step = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, `${what} failed during quit`);
      }
    };
    await step('stopping the manager watch', () => this.conn?.close());
    this.dialResponder?.stop();
    this.engagements.stop();
    this.namespaces?.stop();
    // DNS first: the machine's resolver must work again before anything else can go wrong.
    await step('removing DNS', () => this.dns?.close());
    await step('departing', () => this.conn?.depart());
    await step('closing the VIF', () => this.vif?.close());
    await step('closing the port-forward', () => this.forward?.close());
    await step('closing the manager connection', () => this.conn?.api.close());
    this.managerToken?.close();
    this.credentials?.close();
    await this.queue.catch(() => undefined);
  }
}
