// DNS while connected: libs/dns-core's server on loopback, asking the manager for cluster names and the
// original nameserver for the rest, with the OS hooked up by the platform's resolver hook.
import {
  openDnsServer,
  type DnsRoutingConfig,
  type DnsServer,
  type RecursionState,
} from '@telepresence/dns-core';
import type { Logger } from 'pino';
import { managerClusterResolver } from '../dns/cluster-resolver.js';
import { osDomains } from '../dns/os-domains.js';
import { openResolverHook, type OsResolverHook, type VifDns } from '../dns/os-resolver.js';
import { checkDnsRecursion } from '../dns/recursion-check.js';
import type { ManagerApi, SessionInfo } from '../manager/manager-api.js';
import type { Run } from '../util/exec.js';

export interface DnsServiceOptions {
  readonly log: Logger;
  readonly run: Run;
  readonly platform: NodeJS.Platform;
  readonly upstream: string;
  readonly resolvConfPath?: string;
  readonly api: () => ManagerApi;
  readonly session: () => SessionInfo;
  readonly lookupTimeoutMs: number;
  readonly routing: Omit<DnsRoutingConfig, 'dropSuffixes'>;
  readonly beforeChange: (what: { nftTable: string; family: 'ip' | 'ip6' }) => Promise<void>;
  /** The VIF's DNS side (Vif.enableDns): makes systemd-resolved (and Windows) possible. */
  readonly vif?: VifDns;
}

export class DnsService {
  private recursion: RecursionState = 'not-yet';
  private readonly abort = new AbortController();
  private routing: Omit<DnsRoutingConfig, 'dropSuffixes'> = { clusterDomain: 'cluster.local' };

  private constructor(
    private readonly hook: OsResolverHook,
    private readonly server: DnsServer,
    private readonly log: Logger,
  ) {}

  static async start(options: DnsServiceOptions): Promise<DnsService> {
    const log = options.log.child({ component: 'dns' });
    const hook = await openResolverHook(
      {
        platform: options.platform,
        upstream: options.upstream,
        ...(options.resolvConfPath === undefined ? {} : { resolvConfPath: options.resolvConfPath }),
        beforeChange: options.beforeChange,
        ...(options.vif === undefined ? {} : { vif: options.vif }),
        domains: osDomains(options.routing),
        log: (line) => log.info(line),
      },
      { run: options.run },
    );
    let server: DnsServer | undefined;
    try {
      server = await openDnsServer({
        address: hook.listenAddress,
        config: { ...options.routing, dropSuffixes: hook.searchDomains },
        cluster: managerClusterResolver(options.api, options.session, options.lookupTimeoutMs),
        fallback: hook.fallback,
        // Redirected queries keep their original source (an interface address); a loopback listener is
        // reachable from this host only, so every source may ask.
        allowSource: () => true,
        log,
        lookupTimeoutMs: options.lookupTimeoutMs,
      });
      await hook.install(server.address.port);
    } catch (e) {
      await server?.close();
      await hook.remove();
      throw e;
    }
    log.info({ mode: hook.mode, upstream: hook.upstream, listen: server.address }, 'dns resolver installed');
    const service = new DnsService(hook, server, log);
    service.routing = options.routing;
    service.checkRecursion();
    return service;
  }

  /** Through the OS path, with kube-system routed to us while it runs (recursion-check.ts). */
  private checkRecursion(): void {
    checkDnsRecursion({
      server: this.server,
      hook: this.hook,
      config: () => this.routing,
      attempts: 4,
      signal: this.abort.signal,
    })
      .then((state) => {
        this.recursion = state;
        this.log.info({ recursion: state }, 'recursion check done');
      })
      .catch(() => undefined); // aborted at quit
  }

  /** Flushes the server's cache (updateConfig) and routes the new domains in the OS. */
  updateRouting(routing: Omit<DnsRoutingConfig, 'dropSuffixes'>): void {
    this.routing = routing;
    this.server.updateConfig({ ...routing, dropSuffixes: this.hook.searchDomains });
    this.hook.setDomains?.(osDomains(routing)).catch((err: unknown) => {
      this.log.error({ err: String(err) }, 'updating the OS DNS domains failed');
    });
  }

  /** Forgets every cached answer (e.g. the intercepts changed: answers from agents may be stale). */
  flush(): void {
    this.server.flush();
    // And the OS's copies (systemd-resolved keeps our answers for their TTL).
    this.hook.flushCaches?.().catch((err: unknown) => {
      this.log.warn({ err: String(err) }, 'flushing the OS resolver cache failed');
    });
  }

  status(): {
    mode: string;
    probeReason: string;
    localAddress: string;
    upstream: string;
    recursion: string;
    includeSuffixes: string[];
    excludeSuffixes: string[];
    mappedNamespaces: string[];
    clusterDomain: string;
    queries: number;
    cacheHits: number;
  } {
    const config = this.server.config;
    const stats = this.server.stats;
    return {
      mode: this.hook.mode,
      probeReason: this.hook.reason ?? '',
      localAddress: `${this.server.address.address}:${this.server.address.port}`,
      upstream: this.hook.upstream,
      recursion: this.recursion === 'not-yet' ? this.server.recursionState : this.recursion,
      includeSuffixes: [...config.includeSuffixes],
      excludeSuffixes: [...config.excludeSuffixes],
      mappedNamespaces: [...config.routes],
      clusterDomain: config.clusterDomain,
      queries: stats.queries,
      cacheHits: stats.cacheHits,
    };
  }

  /** Removes the OS hook first (the machine's DNS works again at once), then stops the server. */
  async close(): Promise<void> {
    this.abort.abort();
    try {
      await this.hook.remove();
    } finally {
      await this.server.close();
    }
  }
}
