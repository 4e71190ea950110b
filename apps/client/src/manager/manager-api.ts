// Promise wrappers over the generated ManagerClient for the calls the client makes, each with a deadline.
import { Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import { Http2TunnelClient, fastTunnelClient, type TunnelClient } from '@telepresence/tunnel';
import { ManagerService, type ManagerClient, type manager, type common } from '@telepresence/rpc';

import type { ManagerTls } from '../k8s/manager-tls.js';
import { bearerHeaders, bearerInterceptor } from '../k8s/manager-token.js';

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

/**
 * `token`: the bearer token every call carries (k8s/manager-token.ts); `tls`: verify the manager with
 * this CA and name (k8s/manager-tls.ts), for a manager reached directly.
 */
export function createManagerClient(
  address: string,
  token?: () => string | undefined,
  tls?: ManagerTls,
): ManagerClient {
  const creds = tls === undefined ? credentials.createInsecure() : credentials.createSsl(Buffer.from(tls.ca));
  return new FastManagerClient(address, creds, {
    ...(token === undefined ? {} : { interceptors: [bearerInterceptor(token)] }),
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
 * keep-alive as the channel.
 */
export function createTunnelClient(
  address: string,
  token?: () => string | undefined,
  tls?: ManagerTls,
): Http2TunnelClient {
  return new Http2TunnelClient(address, {
    keepAliveMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    ...(token === undefined ? {} : { headers: bearerHeaders(token) }),
    ...(tls === undefined ? {} : { tls: { ca: tls.ca, servername: tls.servername } }),
  });
}

function deadline(ms: number): { deadline: Date } {
  return { deadline: new Date(Date.now() + ms) };
}

type Unary<Req, Res> = (
  req: Req,
  meta: Metadata,
  opts: { deadline: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

function call<Req, Res>(
  client: ManagerClient,
  method: Unary<Req, Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new Metadata(), deadline(timeoutMs), (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export class ManagerApi {
  constructor(
    readonly client: ManagerClient,
    /** Where Tunnel calls are made; the grpc-js client if not given. */
    readonly tunnels: TunnelClient & { close(): void; connect?(): Promise<void> } = client,
    private readonly timeoutMs = 15_000,
  ) {}

  version(): Promise<manager.VersionResponse> {
    return call(
      this.client,
      this.client.version as Unary<manager.VersionRequest, manager.VersionResponse>,
      {},
      this.timeoutMs,
    );
  }

  arriveAsClient(info: manager.ClientInfo): Promise<SessionInfo> {
    return call(
      this.client,
      this.client.arriveAsClient as Unary<manager.ArriveAsClientRequest, manager.ArriveAsClientResponse>,
      { client: info },
      this.timeoutMs,
    ).then((r) => {
      if (r.session === undefined) throw new Error('manager returned no session');
      return r.session;
    });
  }

  remain(session: SessionInfo): Promise<void> {
    return call(
      this.client,
      this.client.remain as Unary<manager.RemainRequest, manager.RemainResponse>,
      { session },
      this.timeoutMs,
    ).then(() => undefined);
  }

  depart(session: SessionInfo, timeoutMs = 3000): Promise<void> {
    return call(
      this.client,
      this.client.depart as Unary<manager.DepartRequest, manager.DepartResponse>,
      { session },
      timeoutMs,
    ).then(() => undefined);
  }

  lookupDns(
    session: SessionInfo,
    question: common.DNSQuestion,
    timeoutMs: number,
  ): Promise<common.DNSAnswer> {
    return call(
      this.client,
      this.client.lookupDns as Unary<manager.LookupDNSRequest, manager.LookupDNSResponse>,
      { session, question },
      timeoutMs,
    ).then((r) => r.answer ?? { rcode: 2, records: [] });
  }

  close(): void {
    this.tunnels.close();
    this.client.close();
  }
}
