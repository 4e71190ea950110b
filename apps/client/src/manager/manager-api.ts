// What the client needs from the traffic-manager, behind a small interface (`ManagerApi`) so the manager
// connection and the session are tested with fakes; `GrpcManagerApi` implements it on the generated
// grpc-js ManagerClient. Every call has a deadline and stops when its AbortSignal aborts; server streams
// are async iterables. Calls carry the metadata of `callMetadata` (the hook for credentials).
import type { Duplex } from 'node:stream';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { Rcode } from '@telepresence/dns-core';
import { Http2TunnelClient, fastTunnelClient, type TunnelClient } from '@telepresence/tunnel';
import {
  ManagerService,
  serverStream,
  unaryCall,
  type CallMetadata,
  type ManagerClient,
  type manager,
  type common,
} from '@telepresence/rpc';

import type { ManagerTls } from '../k8s/manager-tls.js';
import { bearerHeaders, bearerInterceptor } from '@telepresence/rpc';

export type SessionInfo = common.SessionInfo;
export type ClusterInfo = manager.ClusterInfo;

// The generated client with libs/tunnel's wire-identical TunnelMessage codec (one copy instead of 3-4).
const FastManagerClient = fastTunnelClient<ManagerClient>(ManagerService, 'telepresence.manager.v1.Manager');

/**
 * Longest wait between attempts to reach the traffic-manager again. A restarted manager is usually back
 * in seconds; longer backoffs left flows failing for seconds after the new one was ready (4.8 s measured
 * with 15 s / 5 s caps). An attempt costs a pod lookup and a port-forward: cheap at one per 2 s.
 */
export const MANAGER_RETRY_MAX_MS = 2_000;

export type { CallMetadata };

export interface ManagerApi {
  /** Resolves when the channel is connected; rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void>;
  /** Makes the tunnels' own connection now (the first flow then does not wait for it). */
  connectTunnels(): Promise<void>;
  version(signal?: AbortSignal): Promise<manager.VersionResponse>;
  arriveAsClient(info: manager.ClientInfo, signal?: AbortSignal): Promise<SessionInfo>;
  remain(session: SessionInfo, signal?: AbortSignal): Promise<void>;
  depart(session: SessionInfo, signal?: AbortSignal): Promise<void>;
  /** Ends when the manager ends it, throws on error, ends quietly when `signal` aborts. */
  watchClusterInfo(session: SessionInfo, signal: AbortSignal): AsyncIterable<ClusterInfo>;
  /** The manager's requests to dial intercepted flows here (intercept/dial-responder.ts). */
  watchDial(session: SessionInfo, signal: AbortSignal): AsyncIterable<common.DialRequest>;
  /** `signal` cancels the call (the DNS server gave up on the question). */
  lookupDns(
    session: SessionInfo,
    question: common.DNSQuestion,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<common.DNSAnswer>;
  /** The generated client, for the intercept and dial calls. */
  readonly client: ManagerClient;
  /** Where Tunnel calls are made (every flow through the VIF, every intercepted flow). */
  readonly tunnels: TunnelClient;
  close(): void;
}

/** True for a status that means "this session is gone: arrive again" rather than "try the call again". */
export function isSessionGone(e: unknown): boolean {
  return (e as Partial<ServiceError>).code === status.NOT_FOUND;
}

/** A gRPC error's details (its message if none), any other error's message. */
export function errorText(e: unknown): string {
  const err = e as Partial<ServiceError>;
  if (typeof err.code === 'number' && err.details) return err.details;
  return e instanceof Error ? e.message : String(e);
}

/**
 * `token`: the bearer token every call carries (k8s/manager-token.ts); `tls`: verify the manager with
 * this CA and name (k8s/manager-tls.ts), for a manager reached directly.
 */
export function createManagerClient(
  address: string,
  token?: () => string | undefined,
  tls?: ManagerTls,
  onUnauthenticated?: () => void,
): ManagerClient {
  const creds = tls === undefined ? credentials.createInsecure() : credentials.createSsl(Buffer.from(tls.ca));
  return new FastManagerClient(address, creds, {
    ...(token === undefined ? {} : { interceptors: [bearerInterceptor(token, onUnauthenticated)] }),
    ...(tls === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': tls.servername, 'grpc.default_authority': tls.servername }),
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': MANAGER_RETRY_MAX_MS,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

/**
 * The connection for Tunnel calls (every flow through the VIF, every intercepted flow): node:http2
 * straight, beside the grpc-js channel, which would cost about 2.5x the CPU per byte. Same windows and
 * keep-alive as the channel. `connection` makes each connection (e.g. a port-forward stream) instead of a
 * TCP connection to `address`.
 */
export function createTunnelClient(
  address: string,
  token?: () => string | undefined,
  tls?: ManagerTls,
  connection?: () => Duplex,
): Http2TunnelClient {
  return new Http2TunnelClient(address, {
    keepAliveMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    ...(connection === undefined ? {} : { connection }),
    ...(token === undefined ? {} : { headers: bearerHeaders(token) }),
    ...(tls === undefined ? {} : { tls: { ca: tls.ca, servername: tls.servername } }),
  });
}

export interface GrpcManagerApiOptions {
  /** Where Tunnel calls are made; the grpc-js client if not given. */
  readonly tunnels?: TunnelClient & { close(): void; connect?(): Promise<void> };
  readonly callTimeoutMs?: number;
  readonly callMetadata?: CallMetadata;
}

export class GrpcManagerApi implements ManagerApi {
  readonly tunnels: TunnelClient & { close(): void; connect?(): Promise<void> };
  private readonly timeoutMs: number;
  private readonly metadata: CallMetadata | undefined;

  constructor(
    readonly client: ManagerClient,
    options: GrpcManagerApiOptions = {},
  ) {
    this.tunnels = options.tunnels ?? client;
    this.timeoutMs = options.callTimeoutMs ?? 15_000;
    this.metadata = options.callMetadata;
  }

  /** One unary call with a deadline; aborting `signal` cancels it. */
  private unary<Req, Res>(
    method: unknown,
    req: Req,
    signal?: AbortSignal,
    timeoutMs = this.timeoutMs,
  ): Promise<Res> {
    return unaryCall<Req, Res>(this.client, method, req, { timeoutMs, signal, metadata: this.metadata });
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(new Date(Date.now() + timeoutMs), (err) => (err ? reject(err) : resolve())),
    );
  }

  async connectTunnels(): Promise<void> {
    await this.tunnels.connect?.();
  }

  version(signal?: AbortSignal): Promise<manager.VersionResponse> {
    return this.unary(this.client.version, {}, signal);
  }

  async arriveAsClient(info: manager.ClientInfo, signal?: AbortSignal): Promise<SessionInfo> {
    const r = await this.unary<manager.ArriveAsClientRequest, manager.ArriveAsClientResponse>(
      this.client.arriveAsClient,
      { client: info },
      signal,
    );
    if (r.session === undefined) throw new Error('manager returned no session');
    return r.session;
  }

  async remain(session: SessionInfo, signal?: AbortSignal): Promise<void> {
    await this.unary(this.client.remain, { session }, signal);
  }

  async depart(session: SessionInfo, signal?: AbortSignal): Promise<void> {
    await this.unary(this.client.depart, { session }, signal);
  }

  watchClusterInfo(session: SessionInfo, signal: AbortSignal): AsyncIterable<ClusterInfo> {
    return serverStream((meta) => this.client.watchClusterInfo({ session }, meta), signal, this.metadata);
  }

  watchDial(session: SessionInfo, signal: AbortSignal): AsyncIterable<common.DialRequest> {
    return serverStream((meta) => this.client.watchDial({ session }, meta), signal, this.metadata);
  }

  /** `signal` cancels the call (the DNS server gave up on the question). */
  async lookupDns(
    session: SessionInfo,
    question: common.DNSQuestion,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<common.DNSAnswer> {
    const r = await this.unary<manager.LookupDNSRequest, manager.LookupDNSResponse>(
      this.client.lookupDns,
      { session, question },
      signal,
      timeoutMs,
    );
    return r.answer ?? { rcode: Rcode.SERVFAIL, records: [] };
  }

  close(): void {
    this.tunnels.close();
    this.client.close();
  }
}
