// DNS while connected: libs/dns-core's server on loopback, asking the manager for cluster names and the
// original nameserver for the rest, with the OS hooked up by the platform's resolver hook.
import dnsPromises from 'node:dns/promises';
import {
  openDnsServer,
  runRecursionCheck,
  type DnsRoutingConfig,
  type DnsServer,
  type RecursionState,
} from '@telepresence/dns-core';
import type { Logger } from 'pino';
import { managerClusterResolver } from '../dns/cluster-resolver.js';
import { openResolverHook, type OsResolverHook } from '../dns/os-resolver.js';
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
}

export class DnsService {
  private recursion: RecursionState = 'not-yet';
  private readonly abort = new AbortController();

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
    service.checkRecursion();
    return service;
  }

  private checkRecursion(): void {
    runRecursionCheck(this.server, {
      probe: (name) => dnsPromises.lookup(name),
      attempts: 4,
      signal: this.abort.signal,
    })
      .then((state) => {
        this.recursion = state;
        this.log.info({ recursion: state }, 'recursion check done');
      })
      .catch(() => undefined); // aborted at quit
  }

  updateRouting(routing: Omit<DnsRoutingConfig, 'dropSuffixes'>): void {
    this.server.updateConfig({ ...routing, dropSuffixes: this.hook.searchDomains });
  }

  status(): {
    mode: string;
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
