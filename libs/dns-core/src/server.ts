// The client's DNS server: UDP and TCP on one address and port. Cluster names go to the ClusterResolver
// (through the cache, with in-flight coalescing and recursion protection); other names go to the fallback
// upstream. See DnsServerOptions for every bound.
import { setMaxListeners } from 'node:events';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Answer } from 'dns-packet';
import { DnsCache, cacheKey } from './cache.js';
import { createDeadline } from './deadline.js';
import type { CachedAnswer } from './cache.js';
import { rateLimitWarnings, silentLogger } from './logger.js';
import type { DnsLogger } from './logger.js';
import { isSingleLabel, SEARCH_MARKER } from './names.js';
import { encodeSection } from './record-codec.js';
import type { RecursionState } from './recursion-state.js';
import {
  decideRoute,
  explainRoute,
  hasSearchMarker,
  isRecursionCheckName,
  normalizeDnsConfig,
  stripDropSuffixes,
} from './routing.js';
import type { DnsRoutingConfig, NormalizedDnsConfig, RouteDecision } from './routing.js';
import { CLUSTER_TTL_S, Rcode, supportedTypeOf } from './types.js';
import type { ClusterResolver, SupportedType } from './types.js';
import { DnsTransport } from './transport.js';
import type { UdpTransportChoice, UdpTransportKind } from './udp/types.js';
import type { Upstream } from './upstream.js';
import { EMPTY_SECTION, parseQuery, udpLimit, writeRejection, writeResponse } from './wire.js';
import type { EncodedSection, ParsedQuery } from './wire.js';

/** The name systemd-resolved's sanity check asks (reference 4.2 step 2): answered with localhost. */
export const SANITY_CHECK_NAME = 'jhfweoitnkgyeta.tel2-search';

export interface DnsServerOptions {
  /**
   * The one address to serve on (e.g. "127.0.0.1", or the TUN's DNS address). Wildcards (0.0.0.0, ::) are
   * refused: binding all interfaces would make an open resolver.
   */
  readonly address: string;
  /** 0 (default) picks a port free for both UDP and TCP. */
  readonly port?: number;
  readonly config: DnsRoutingConfig;
  readonly cluster: ClusterResolver;
  /** Where non-cluster names go; without it they get NXDOMAIN. The caller owns (and closes) it. */
  readonly fallback?: Upstream;
  /**
   * Which query sources are served; the others get REFUSED (UDP) or a closed connection (TCP). Default:
   * loopback sources and the bound address itself. Pass a predicate when serving e.g. a bridge gateway.
   */
  readonly allowSource?: (address: string) => boolean;
  readonly log?: DnsLogger;
  /** Clock for the cache (tests inject one). */
  readonly now?: () => number;
  /** TTL put on every cluster answer. Default CLUSTER_TTL_S (4 s). */
  readonly clusterTtlS?: number;
  /** How long cluster answers stay in the internal cache. Default 60 s. */
  readonly cacheTtlMs?: number;
  /** How long NXDOMAIN from the cluster stays cached. Default 2 s; 0 disables. */
  readonly negativeCacheTtlMs?: number;
  /** Most cached answers. Default 10000. */
  readonly maxCacheEntries?: number;
  /** Limit of one cluster or fallback lookup. Default 4 s. */
  readonly lookupTimeoutMs?: number;
  /** Most queries waiting for the cluster or the fallback; more get SERVFAIL at once. Default 1024. */
  readonly maxConcurrentQueries?: number;
  /** Most open TCP connections; more are closed at once. Default 128. */
  readonly maxTcpConnections?: number;
  /** Queries one TCP connection may have outstanding before we stop reading it. Default 32. */
  readonly maxTcpPipeline?: number;
  /** An idle TCP connection is closed after this. Default 10 s. */
  readonly tcpIdleTimeoutMs?: number;
  /** Largest UDP response we send (EDNS payload we advertise). Default 1232 (no fragmentation). */
  readonly maxUdpPayload?: number;
  /** How long the recursion check waits for the cluster. Default 500 ms. */
  readonly recursionCheckTimeoutMs?: number;
  /**
   * How UDP is served: 'auto' (default) uses the batched native transport where it is available (Linux,
   * addon built) and node:dgram elsewhere; 'native' fails if it is unavailable; 'dgram' forces node:dgram.
   */
  readonly udpTransport?: UdpTransportChoice;
}

/** Counters for `telepresence status` and tests. */
export interface DnsServerStats {
  queries: number;
  cacheHits: number;
  clusterLookups: number;
  fallbackQueries: number;
  refused: number;
  rejected: number;
  dropped: number;
  overloaded: number;
  recursionsBlocked: number;
  tcpConnections: number;
  /** Distinct cluster lookups in flight now. */
  inFlightLookups: number;
  /** Queries waiting on the cluster or the fallback now. */
  activeQueries: number;
}

interface Resolved {
  readonly rcode: number;
  readonly answers?: EncodedSection;
  readonly authorities?: EncodedSection;
  readonly additionals?: EncodedSection;
  readonly authoritative?: boolean;
  readonly recursionAvailable?: boolean;
}

const LOCALHOST_A: Answer = { type: 'A', name: '.', ttl: 0, data: '127.0.0.1' };
const LOCALHOST_AAAA: Answer = { type: 'AAAA', name: '.', ttl: 0, data: '::1' };
const localhostSection = (type: SupportedType | undefined): EncodedSection =>
  type === 'A'
    ? encodeSection([LOCALHOST_A], '.')
    : type === 'AAAA'
      ? encodeSection([LOCALHOST_AAAA], '.')
      : EMPTY_SECTION;

function isWildcard(address: string): boolean {
  return (
    address === '0.0.0.0' || address === '::' || /^0+(\.0+){3}$/.test(address) || /^[0:]+$/.test(address)
  );
}

function defaultAllowSource(bound: string): (address: string) => boolean {
  return (address) =>
    address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.') || address === bound;
}

/** Opens the server on UDP and TCP; see DnsServerOptions. Close it with close() or `await using`. */
export async function openDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  if (net.isIP(options.address) === 0) {
    throw new TypeError(
      `dns server: "${options.address}" is not an IP address; pass the address to serve on`,
    );
  }
  if (isWildcard(options.address)) {
    throw new TypeError(
      `dns server: refusing to bind the wildcard address ${options.address} (an open resolver); pass the specific address`,
    );
  }
  const server = new DnsServer(options);
  await server.listen(options.port ?? 0);
  return server;
}

export class DnsServer implements AsyncDisposable {
  readonly #options: DnsServerOptions;
  readonly #log: DnsLogger;
  readonly #cache: DnsCache;
  readonly #inFlight = new Map<string, Promise<CachedAnswer>>();
  readonly #closing = new AbortController();
  readonly #allowSource: (address: string) => boolean;
  readonly #recursionWaiters = new Set<() => void>();
  readonly #stats: DnsServerStats = {
    queries: 0,
    cacheHits: 0,
    clusterLookups: 0,
    fallbackQueries: 0,
    refused: 0,
    rejected: 0,
    dropped: 0,
    overloaded: 0,
    recursionsBlocked: 0,
    tcpConnections: 0,
    inFlightLookups: 0,
    activeQueries: 0,
  };
  #config: NormalizedDnsConfig;
  #generation = 0;
  #active = 0;
  #recursion: RecursionState = 'not-yet';
  #recursionCheck: Promise<void> | undefined;
  #recursionToken: string | undefined;
  #transport: DnsTransport | undefined;
  readonly #clusterTtlS: number;
  readonly #lookupTimeoutMs: number;
  readonly #maxConcurrent: number;
  readonly #maxUdpPayload: number;

  /** @internal use openDnsServer() */
  constructor(options: DnsServerOptions) {
    this.#options = options;
    this.#log = rateLimitWarnings(options.log ?? silentLogger);
    this.#config = normalizeDnsConfig(options.config);
    this.#cache = new DnsCache({
      ttlMs: options.cacheTtlMs ?? 60_000,
      negativeTtlMs: options.negativeCacheTtlMs ?? 2_000,
      maxEntries: Math.max(1, options.maxCacheEntries ?? 10_000),
      now: options.now ?? Date.now,
    });
    this.#allowSource = options.allowSource ?? defaultAllowSource(options.address);
    this.#clusterTtlS = options.clusterTtlS ?? CLUSTER_TTL_S;
    this.#lookupTimeoutMs = options.lookupTimeoutMs ?? 4_000;
    this.#maxConcurrent = options.maxConcurrentQueries ?? 1024;
    // Every lookup in flight (at most maxConcurrent) listens on it: not a leak, so no warning at 11.
    setMaxListeners(this.#maxConcurrent + 16, this.#closing.signal);
    this.#maxUdpPayload = Math.max(512, Math.min(65_535, options.maxUdpPayload ?? 1232));
  }

  get address(): { address: string; port: number } {
    return { address: this.#options.address, port: this.#transport?.port ?? 0 };
  }

  /** Which UDP transport serves (after listen): 'native' (recvmmsg/sendmmsg) or 'dgram'. */
  get udpTransport(): UdpTransportKind | undefined {
    return this.#transport?.udpTransport;
  }

  get recursionState(): RecursionState {
    return this.#recursion;
  }

  get stats(): Readonly<DnsServerStats> {
    return {
      ...this.#stats,
      tcpConnections: this.#transport?.tcpConnections ?? 0,
      inFlightLookups: this.#inFlight.size,
      activeQueries: this.#active,
    };
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  /** The normalized configuration in use. */
  get config(): NormalizedDnsConfig {
    return this.#config;
  }

  /** Replaces the routing configuration and flushes the cache. A bad config throws and changes nothing. */
  updateConfig(config: DnsRoutingConfig): void {
    const normalized = normalizeDnsConfig(config);
    this.#config = normalized;
    this.flush();
    this.#log.info({ config: { ...normalized, excludes: [...normalized.excludes] } }, 'dns config updated');
  }

  /** Forgets every cached answer; lookups in flight finish but are not cached. */
  flush(): void {
    this.#generation++;
    this.#cache.flush();
  }

  /** The routing decision for a name as the server would make it (for status/debug output). */
  explain(name: string): RouteDecision {
    return decideRoute(this.#config, stripDropSuffixes(this.#config, name.toLowerCase().replace(/\.$/, '')));
  }

  /** Lets the client rerun the check (e.g. after reconnecting to another cluster). */
  resetRecursionCheck(): void {
    this.#setRecursion('not-yet');
    this.#recursionCheck = undefined;
    this.#recursionToken = undefined;
  }

  /** Resolves when `predicate(state)` holds, or after timeoutMs / on abort (check the state after). */
  waitForRecursionState(
    predicate: (s: RecursionState) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (predicate(this.#recursion)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#recursionWaiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (predicate(this.#recursion)) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#recursionWaiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #setRecursion(state: RecursionState): void {
    if (this.#recursion === state) return;
    this.#recursion = state;
    this.#log.info({ recursion: state }, 'dns recursion check state');
    for (const w of [...this.#recursionWaiters]) w();
  }

  /** @internal */
  async listen(port: number): Promise<void> {
    this.#transport = await DnsTransport.open(
      {
        address: this.#options.address,
        port,
        maxTcpConnections: this.#options.maxTcpConnections ?? 128,
        maxTcpPipeline: this.#options.maxTcpPipeline ?? 32,
        tcpIdleTimeoutMs: this.#options.tcpIdleTimeoutMs ?? 10_000,
        allowSource: this.#allowSource,
        log: this.#log,
        onClosedConnection: (reason) => {
          if (reason === 'refused') this.#stats.refused++;
          else this.#stats.dropped++;
        },
        ...(this.#options.udpTransport === undefined ? {} : { udpTransport: this.#options.udpTransport }),
      },
      (msg, source, tcp) => this.#handle(msg, source, tcp),
    );
  }

  /** Stops listening, closes TCP connections and aborts lookups in flight. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new Error('dns server closed'));
    await this.#transport?.close();
    for (const w of [...this.#recursionWaiters]) w();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * One message in, one reply (or nothing) out; synchronous on the cache-hit path. `msg` is only valid
   * during the call (the UDP transport reuses its buffer), so the asynchronous paths answer from a copy of
   * its header and question, the only bytes writeResponse reads.
   */
  #handle(msg: Buffer, source: string, tcp: boolean): Buffer | Promise<Buffer | undefined> | undefined {
    this.#stats.queries++;
    const parsed = parseQuery(msg);
    if (parsed.kind === 'drop') {
      this.#stats.dropped++;
      return undefined;
    }
    if (parsed.kind === 'reject') {
      this.#stats.rejected++;
      return writeRejection(msg, parsed, this.#maxUdpPayload);
    }
    const maxBytes = tcp ? 65_535 : udpLimit(parsed, this.#maxUdpPayload);
    if (!this.#allowSource(source)) {
      this.#stats.refused++;
      return writeResponse(msg, parsed, { rcode: Rcode.REFUSED, maxBytes, ednsPayload: this.#maxUdpPayload });
    }
    const lower = parsed.name.toLowerCase();
    const name = stripDropSuffixes(this.#config, lower);
    const type = supportedTypeOf(parsed.qtype);
    if (type !== undefined) {
      const hit = this.#cache.get(cacheKey(name, type));
      if (hit !== undefined) {
        this.#stats.cacheHits++;
        // The hot path: one allocation (the reply) and two copies into it (question, answer section).
        if (hit.rcode === Rcode.NOERROR) {
          return writeResponse(msg, parsed, {
            rcode: Rcode.NOERROR,
            answers: hit.section,
            authoritative: true,
            recursionAvailable: this.#options.fallback !== undefined,
            maxBytes,
            ednsPayload: this.#maxUdpPayload,
          });
        }
        return writeResponse(msg, parsed, {
          ...this.#fromCache(hit, name),
          maxBytes,
          ednsPayload: this.#maxUdpPayload,
        });
      }
    }
    const reply = (r: Resolved, query = msg) =>
      writeResponse(query, parsed, { ...r, maxBytes, ednsPayload: this.#maxUdpPayload });
    const replyLater = (): ((r: Resolved) => Buffer) => {
      const question = Buffer.from(msg.subarray(0, parsed.questionEnd));
      return (r) => reply(r, question);
    };
    if (lower === SANITY_CHECK_NAME || name === 'localhost') {
      return reply({ rcode: Rcode.NOERROR, answers: localhostSection(type), authoritative: true });
    }
    if (hasSearchMarker(name)) return reply({ rcode: Rcode.NXDOMAIN, authoritative: true });
    if (isRecursionCheckName(name)) return this.#recursionProbe(name, type).then(replyLater());
    const decision = decideRoute(this.#config, name);
    if (this.#log.isLevelEnabled?.('debug') ?? true) {
      this.#log.debug(
        { name, cluster: decision.toCluster, rule: decision.rule, match: decision.match },
        explainRoute(decision),
      );
    }
    if (this.#active >= this.#maxConcurrent) {
      this.#stats.overloaded++;
      return reply({ rcode: Rcode.SERVFAIL });
    }
    if (!decision.toCluster) return this.#track(this.#fallbackQuery(parsed, lower)).then(replyLater());
    if (type === undefined) return reply({ rcode: Rcode.NOTIMP });
    const fallbackAllowed =
      lower === name &&
      !isSingleLabel(name) &&
      !name.endsWith('.' + this.#config.clusterDomain) &&
      lower !== SEARCH_MARKER;
    return this.#track(this.#clusterQuery(parsed, name, type, fallbackAllowed)).then(replyLater());
  }

  async #track<T>(work: Promise<T>): Promise<T> {
    this.#active++;
    try {
      return await work;
    } finally {
      this.#active--;
    }
  }

  #fromCache(hit: CachedAnswer, name: string): Resolved {
    if (hit.rcode === Rcode.NXDOMAIN && this.#cache.nameExists(name))
      return { rcode: Rcode.NOERROR, authoritative: true };
    return {
      rcode: hit.rcode,
      answers: hit.section,
      authoritative: true,
      recursionAvailable: this.#options.fallback !== undefined,
    };
  }

  async #clusterQuery(
    parsed: ParsedQuery,
    name: string,
    type: SupportedType,
    fallbackAllowed: boolean,
  ): Promise<Resolved> {
    const key = cacheKey(name, type);
    let lookup = this.#inFlight.get(key);
    if (lookup !== undefined && this.#recursion === 'detected') {
      // The cluster asking us what we are asking it: answering would loop until the timeout (reference 4.7).
      this.#stats.recursionsBlocked++;
      this.#log.debug(
        { name, type },
        'dns recursion: repeat of an in-flight cluster query answered NXDOMAIN',
      );
      return { rcode: Rcode.NXDOMAIN, authoritative: true };
    }
    if (lookup === undefined) {
      const started = this.#lookupCluster(name, type);
      lookup = started.finally(() => {
        if (this.#inFlight.get(key) === lookup) this.#inFlight.delete(key);
      });
      this.#inFlight.set(key, lookup);
    }
    const answer = await lookup;
    const resolved = this.#fromCache(answer, name);
    if (resolved.rcode !== Rcode.NOERROR && fallbackAllowed && this.#options.fallback !== undefined) {
      return this.#fallbackQuery(parsed, parsed.name.toLowerCase());
    }
    return resolved;
  }

  async #lookupCluster(name: string, type: SupportedType): Promise<CachedAnswer> {
    const generation = this.#generation;
    this.#stats.clusterLookups++;
    const deadline = createDeadline(this.#closing.signal, this.#lookupTimeoutMs, 'cluster lookup');
    let answer: CachedAnswer;
    try {
      const result = await this.#options.cluster.resolve({ name, type }, deadline.signal);
      const records = this.#clusterRecords(name, result.answers);
      answer = { rcode: result.rcode, records, section: encodeSection(records, name) };
    } catch (err) {
      this.#log.warn({ name, type, err: String(err) }, 'dns cluster lookup failed');
      return { rcode: Rcode.SERVFAIL, records: [], section: EMPTY_SECTION };
    } finally {
      deadline.release();
    }
    if (generation === this.#generation) this.#cache.set(cacheKey(name, type), answer);
    return answer;
  }

  /** Short TTLs on everything; single-label answers named after the cluster's expansion get our name back. */
  #clusterRecords(name: string, answers: readonly Answer[]): Answer[] {
    const records = answers
      .filter((a) => a.type !== 'OPT')
      .map((a) => ({ ...a, ttl: this.#clusterTtlS }) as Answer);
    if (!isSingleLabel(name) || records.some((r) => r.type === 'CNAME' || r.name.toLowerCase() === name))
      return records;
    const prefix = name + '.';
    return records.map((r) => (r.name.toLowerCase().startsWith(prefix) ? ({ ...r, name } as Answer) : r));
  }

  async #fallbackQuery(parsed: ParsedQuery, lower: string): Promise<Resolved> {
    const fallback = this.#options.fallback;
    if (fallback === undefined) return { rcode: Rcode.NXDOMAIN };
    this.#stats.fallbackQueries++;
    const deadline = createDeadline(this.#closing.signal, this.#lookupTimeoutMs, 'fallback lookup');
    try {
      const res = await fallback.exchange({ name: parsed.name, qtype: parsed.qtype }, deadline.signal);
      return {
        rcode: res.rcode,
        answers: encodeSection(res.answers, lower),
        authorities: encodeSection(res.authorities, lower),
        additionals: encodeSection(res.additionals, lower),
        authoritative: res.authoritative,
        recursionAvailable: true,
      };
    } catch (err) {
      this.#log.warn({ name: parsed.name, err: String(err) }, 'dns fallback failed');
      return { rcode: Rcode.SERVFAIL, recursionAvailable: true };
    } finally {
      deadline.release();
    }
  }

  /**
   * A recursion-check name arrived. The first probe asks the cluster a unique name; if that name comes back
   * to us while the cluster is resolving it, the cluster forwards to us: recursion detected.
   */
  async #recursionProbe(name: string, type: SupportedType | undefined): Promise<Resolved> {
    const token = this.#recursionToken;
    if (token !== undefined && (name === token || name.startsWith(token + '.'))) {
      // Our own cluster question came back to us.
      if (this.#recursion === 'received') this.#setRecursion('detected');
      return { rcode: Rcode.NXDOMAIN, authoritative: true };
    }
    if (this.#recursion === 'not-yet') {
      this.#setRecursion('received');
      this.#recursionToken = `tel2-recursion-check-${randomBytes(4).toString('hex')}.kube-system`;
      this.#recursionCheck = this.#askClusterForRecursion(this.#recursionToken, type ?? 'A');
    }
    if (this.#recursion === 'received') await this.#recursionCheck;
    return { rcode: Rcode.NXDOMAIN, authoritative: true };
  }

  async #askClusterForRecursion(name: string, type: SupportedType): Promise<void> {
    const timeoutMs = this.#options.recursionCheckTimeoutMs ?? 500;
    const { signal, release } = createDeadline(this.#closing.signal, timeoutMs, 'recursion check');
    try {
      await Promise.race([
        this.#options.cluster.resolve({ name, type }, signal),
        new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
      ]);
    } catch {
      // Only whether the name came back to us matters, not the cluster's answer.
    } finally {
      release();
    }
    if (this.#recursion === 'received') this.#setRecursion('not-detected');
  }
}
