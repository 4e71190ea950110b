// Wires the manager's parts together and starts them (create, wire, then start). main.ts supplies the
// real environment; tests supply fakes (a ClusterApi in memory, a loopback DNS server, ports 0).
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { clusterDomainFromSearch, DEFAULT_CLUSTER_DOMAIN, type ResolvConf } from '@telepresence/dns-core';
import { ManagerService } from '@telepresence/rpc';
import {
  MANAGER_TUNNEL_PATH,
  serveTunnelCalls,
  tuneTunnelServer,
  withFastTunnelCodec,
} from '@telepresence/tunnel';

import type { AuthApi } from './auth/auth-api.js';
import type { AuthConfig } from './auth/auth-config.js';
import { createAuthMetrics } from './auth/auth-metrics.js';
import { startApiTls, type ApiTls } from './auth/api-tls.js';
import { CallAuth } from './auth/caller-auth.js';
import { guardManagerServer } from './auth/guard.js';
import { ClusterInfoStore } from './cluster-info/cluster-info-store.js';
import { runSubnetDiscovery } from './cluster-info/discovery.js';
import type { SubnetMath } from './cluster-info/subnet-math.js';
import type { ManagerConfig } from './config.js';
import { AgentDnsBroker } from './dns/agent-lookups.js';
import { nodeDnsBackend, type DnsBackend } from './dns/cluster-resolver.js';
import { createManagerServer } from './grpc/manager-service.js';
import { clusterInterceptHooks } from './injector/intercept-hooks.js';
import type { InjectorApi } from './injector/injector-api.js';
import type { InjectorConfig } from './injector/injector-config.js';
import { startAgentInjector, type RunningInjector } from './injector/webhook-server.js';
import { InterceptStore } from './intercepts/intercept-store.js';
import type { ClusterApi } from './k8s/cluster-api.js';
import { createMetrics, type ManagerMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { SessionRegistry } from './sessions/session-registry.js';
import type { TunnelBroker } from './tunnel/tunnel-broker.js';
import { TunnelRouter } from './tunnel/tunnel-router.js';
import { systemClock, type Clock } from './util/clock.js';

export interface TrafficManagerDeps {
  readonly config: ManagerConfig;
  readonly log: Logger;
  readonly api: ClusterApi;
  readonly subnets: SubnetMath;
  readonly resolvConf: ResolvConf;
  readonly version: string;
  /** Default: the UID of namespace "default", read at start. */
  readonly clusterId?: string;
  readonly clock?: Clock;
  readonly dnsBackend?: DnsBackend;
  readonly defaultMetrics?: boolean;
  /** Caller authentication (auth/); undefined = mode disabled (every caller is trusted). */
  readonly auth?: { readonly api: AuthApi; readonly config: AuthConfig };
  /**
   * A second gRPC port with TLS (certificate generated and renewed here) for clients that reach the
   * manager directly; `publish` writes the CA bundle where clients read it. Undefined = no TLS port.
   */
  readonly apiTls?: { readonly port: number; readonly publish: (caBundlePem: string) => Promise<void> };
  /** The agent-injector webhook and agent enabling; undefined = neither (intercepts need agents running). */
  readonly injector?: { readonly api: InjectorApi; readonly config: InjectorConfig };
  /** Builds the tunnel side once the other parts exist; undefined = Tunnel/WatchDial answer UNIMPLEMENTED. */
  readonly tunnels?: (parts: {
    sessions: SessionRegistry;
    intercepts: InterceptStore;
    metrics: ManagerMetrics;
    log: Logger;
  }) => TunnelBroker;
}

export interface RunningTrafficManager {
  readonly grpcPort: number;
  /** The TLS port of the gRPC API and its certificates, when deps.apiTls asked for one. */
  readonly tls: { readonly port: number; readonly certs: ApiTls } | undefined;
  /** Undefined when the metrics server is disabled (METRICS_PORT=0 is "any port" in tests: see metricsPort). */
  readonly metricsPort: number | undefined;
  readonly sessions: SessionRegistry;
  readonly clusterInfo: ClusterInfoStore;
  readonly metrics: ManagerMetrics;
  readonly injector: RunningInjector | undefined;
  /** Graceful stop: sessions end (their streams get UNAVAILABLE), discovery stops, servers close. Idempotent. */
  close(): Promise<void>;
}

export const TUNNEL_PROTOCOL_VERSION = 2;

export async function startTrafficManager(
  deps: TrafficManagerDeps,
  options: { metricsEnabled?: boolean } = {},
): Promise<RunningTrafficManager> {
  const { config, log } = deps;
  const clock = deps.clock ?? systemClock;

  const fromResolv = clusterDomainFromSearch(deps.resolvConf.search, config.namespace);
  const clusterDomain = config.clusterDomain ?? fromResolv ?? DEFAULT_CLUSTER_DOMAIN;
  log.info(
    {
      clusterDomain,
      source:
        config.clusterDomain !== undefined
          ? 'CLUSTER_DOMAIN'
          : fromResolv !== undefined
            ? 'resolv.conf'
            : 'fallback',
    },
    `cluster domain ${clusterDomain}`,
  );

  const clusterId =
    deps.clusterId ??
    (await deps.api.namespaceUid('default', AbortSignal.timeout(5000)).catch((e: unknown) => {
      log.warn(
        { err: String(e) },
        'cannot read the cluster id (UID of namespace default); sessions carry none',
      );
      return '';
    }));

  const sessions = new SessionRegistry({
    clock,
    log,
    clientTtlMs: config.clientSessionTtlMs,
    agentTtlMs: config.agentSessionTtlMs,
  });
  const metrics = createMetrics(() => sessions, { defaultMetrics: deps.defaultMetrics ?? true });
  const intercepts = new InterceptStore(sessions);
  const clusterInfo = new ClusterInfoStore(
    {
      serviceSubnet: undefined,
      podSubnets: [],
      clusterDomain,
      managerPodIp: config.podIp,
      managerPodPort: config.serverPort,
      managerNamespace: config.namespace,
      routing: config.routing,
      dns: config.dns,
    },
    deps.subnets,
    log.child({ component: 'cluster-info' }),
  );
  const tunnels = (
    deps.tunnels ?? ((parts) => new TunnelRouter({ ...parts, managerNamespace: config.namespace }))
  )({
    sessions,
    intercepts,
    metrics,
    log,
  });
  // Started after the gRPC server; CreateIntercept asks it whether it is ready (see whenReady).
  let injector: RunningInjector | undefined;
  const impl = createManagerServer({
    log,
    version: deps.version,
    tunnelVersion: TUNNEL_PROTOCOL_VERSION,
    clusterId,
    sessions,
    clusterInfo,
    intercepts,
    dnsBackend:
      deps.dnsBackend ?? nodeDnsBackend({ servers: config.dnsServers, timeoutMs: config.dnsTimeoutMs }),
    agentDns: new AgentDnsBroker(),
    agentDnsTimeoutMs: config.agentDnsTimeoutMs,
    dnsBudgetMs: 2 * config.dnsTimeoutMs,
    searchContext: (clientNamespace) => ({
      clientNamespace,
      clusterDomain,
      podSearch: deps.resolvConf.search,
      ndots: deps.resolvConf.ndots,
    }),
    tunnels,
    metrics,
    ...(deps.injector === undefined
      ? {}
      : {
          interceptHooks: clusterInterceptHooks(
            deps.injector.api,
            log.child({ component: 'intercepts' }),
            (ms) => (injector === undefined ? Promise.resolve(true) : injector.whenReady(ms)),
          ),
        }),
  });

  const auth =
    deps.auth === undefined || deps.auth.config.mode === 'disabled'
      ? undefined
      : new CallAuth({
          api: deps.auth.api,
          mode: deps.auth.config.mode,
          reviewTtlMs: deps.auth.config.reviewTtlMs,
          apiAudiences: deps.auth.config.apiAudiences,
          sessions,
          metrics: createAuthMetrics(metrics.registry),
          log,
          clock,
        });
  log.info({ mode: auth?.mode ?? 'disabled' }, `caller authentication: ${auth?.mode ?? 'disabled'}`);
  const guard =
    auth === undefined
      ? undefined
      : guardManagerServer(impl, { auth, sessions, managerNamespace: config.namespace, tunnels });

  const server = new Server({
    'grpc.max_receive_message_length': config.grpcMaxReceiveBytes,
    // Detect dead clients (a killed port-forward) instead of holding their streams forever.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  // Clients' connections carry their tunnels through port-forwards with WAN round trips.
  if (!tuneTunnelServer(server, config.tunnelWindows))
    log.warn('this grpc-js cannot take bigger HTTP/2 windows; tunnels keep 64 KiB');
  // Tunnel calls on node:http2, ahead of grpc-js: every tunneled byte crosses this process twice, and
  // grpc-js's call machinery costs about 2.5x node:http2's CPU per byte. grpc-js keeps serving the
  // method (fast codec, which forwards spliced frames as received) if its internals are not there.
  if (
    tunnels !== undefined &&
    !serveTunnelCalls(
      server,
      MANAGER_TUNNEL_PATH,
      (channel, headers) => tunnels.tunnel(channel, guard?.tunnelAdmission(headers.authorization)),
      config.grpcMaxReceiveBytes,
    )
  )
    log.warn('this grpc-js cannot hand Tunnel calls to node:http2; they go through grpc-js');
  server.addService(withFastTunnelCodec(ManagerService), guard?.impl ?? impl);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${config.serverHost}:${config.serverPort}`,
      ServerCredentials.createInsecure(),
      (err, port) =>
        err
          ? reject(new Error(`cannot listen on ${config.serverHost}:${config.serverPort}: ${err.message}`))
          : resolve(port),
    ),
  );
  log.info({ port: grpcPort }, 'gRPC API listening');
  let apiTls: ApiTls | undefined;
  let tlsPort: number | undefined;
  if (deps.apiTls !== undefined) {
    apiTls = await startApiTls({
      namespace: config.namespace,
      serviceName: 'traffic-manager',
      clusterDomain,
      publish: deps.apiTls.publish,
      log,
    });
    const tls = apiTls;
    const wanted = `${config.serverHost}:${deps.apiTls.port}`;
    tlsPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(wanted, tls.credentials, (err, port) =>
        err ? reject(new Error(`cannot listen on ${wanted}: ${err.message}`)) : resolve(port),
      ),
    ).catch((e: unknown) => {
      tls.close();
      server.forceShutdown();
      throw e;
    });
    log.info({ port: tlsPort }, 'gRPC API listening with TLS');
  }

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  if (options.metricsEnabled ?? config.metricsPort !== 0) {
    try {
      metricsServer = await startMetricsServer(metrics.registry, config.serverHost, config.metricsPort);
      log.info({ port: metricsServer.port }, 'metrics listening on /metrics');
    } catch (e) {
      server.forceShutdown();
      throw e;
    }
  }

  if (deps.injector?.config.enabled === true) {
    const ic = deps.injector.config;
    try {
      injector = await startAgentInjector({
        api: deps.injector.api,
        settings: ic.agent,
        log,
        host: ic.host,
        port: ic.port,
        serviceName: ic.serviceName,
        namespace: config.namespace,
        clusterDomain,
        webhookConfigName: ic.webhookConfigName,
      });
    } catch (e) {
      server.forceShutdown();
      await metricsServer?.close();
      throw e;
    }
  }

  sessions.start();
  const discovery = new AbortController();
  const discovered = runSubnetDiscovery(
    {
      api: deps.api,
      store: clusterInfo,
      subnets: deps.subnets,
      log,
      clock,
      namespace: config.namespace,
      podIp: config.podIp,
      serviceCidr: config.serviceCidr,
      podCidrStrategy: config.podCidrStrategy,
      podCidrs: config.podCidrs,
      debounceMs: config.subnetDebounceMs,
    },
    discovery.signal,
  );

  let closing: Promise<void> | undefined;
  return {
    grpcPort,
    tls: apiTls === undefined || tlsPort === undefined ? undefined : { port: tlsPort, certs: apiTls },
    metricsPort: metricsServer?.port,
    sessions,
    clusterInfo,
    metrics,
    injector,
    close() {
      closing ??= (async () => {
        discovery.abort();
        apiTls?.close();
        await injector?.close();
        sessions.close();
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 5000);
          force.unref();
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await metricsServer?.close();
        await discovered;
      })();
      return closing;
    },
  };
}
