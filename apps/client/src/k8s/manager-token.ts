// The token the client proves its Kubernetes identity with to the traffic-manager (which checks it with
// TokenReview and authorises the identity with SubjectAccessReview; README.md "Authentication to the
// traffic-manager" says why it is done this way):
//  1. the kubeconfig's bearer token (a static token, or what an exec plugin / auth provider gives), as is:
//     the manager then sees the real user; when the daemon refreshes an exec plugin's credential
//     (refreshed-kubeconfig.ts), always the newest one;
//  2. otherwise (a client certificate, which the manager never sees), a TokenRequest for the chart's
//     service account MANAGER_CLIENT_SERVICE_ACCOUNT in the manager's namespace, audience
//     "telepresence-manager", renewed before it expires: RBAC on serviceaccounts/token decides who may
//     get one, and the manager sees that service account.
import { status, type ServiceError } from '@grpc/grpc-js';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

import { TpError } from '../util/errors.js';
import { refresherOf } from './refreshed-kubeconfig.js';

export const MANAGER_CLIENT_SERVICE_ACCOUNT = 'traffic-manager-client';
export const MANAGER_TOKEN_AUDIENCE = 'telepresence-manager';
/** Lifetime asked for a requested token (the API server's minimum is 10 minutes). */
const REQUESTED_SECONDS = 3600;
/** A kubeconfig token (an exec plugin's may expire) is asked again this often. */
const KUBECONFIG_REFRESH_MS = 60_000;

export interface ManagerToken {
  /** "user" = the kubeconfig's own token; "service-account" = requested for the chart's service account. */
  readonly source: 'user' | 'service-account';
  /** The token to send now; undefined when none could be had (see `problem`). */
  current(): string | undefined;
  /** Why there is no token (a manager with auth.mode disabled does without one). */
  readonly problem?: TpError;
  /** Stops renewing. Idempotent. */
  close(): void;
}

/** The bearer token the kubeconfig authenticates with, if it uses one. */
export async function kubeconfigBearerToken(kc: KubeConfig): Promise<string | undefined> {
  const opts: { headers?: Record<string, string> } = { headers: {} };
  await kc.applyToHTTPSOptions(opts as never);
  const m = /^Bearer\s+(\S+)$/i.exec(opts.headers?.['Authorization'] ?? '');
  return m?.[1];
}

export async function obtainManagerToken(
  kc: KubeConfig,
  managerNamespace: string,
  onRenewError: (e: unknown) => void,
): Promise<ManagerToken> {
  const refresher = refresherOf(kc);
  if (refresher?.current().token !== undefined)
    return { source: 'user', current: () => refresher.current().token, close() {} };
  const own = await kubeconfigBearerToken(kc);
  if (own !== undefined) {
    let token = own;
    const timer = setInterval(() => {
      kubeconfigBearerToken(kc).then((t) => {
        if (t !== undefined) token = t;
      }, onRenewError);
    }, KUBECONFIG_REFRESH_MS);
    timer.unref();
    return { source: 'user', current: () => token, close: () => clearInterval(timer) };
  }
  let requested: { token: string; expiresAt: number };
  try {
    requested = await requestToken(kc, managerNamespace);
  } catch (e) {
    return { source: 'service-account', current: () => undefined, problem: TpError.from(e), close() {} };
  }
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (): void => {
    // Renew at 80% of the lifetime, as the kubelet does; on failure retry in a minute.
    const inMs = Math.max(10_000, (requested.expiresAt - Date.now()) * 0.8);
    timer = setTimeout(() => {
      requestToken(kc, managerNamespace).then(
        (r) => {
          requested = r;
          if (!closed) schedule();
        },
        (e: unknown) => {
          onRenewError(e);
          if (!closed) timer = setTimeout(schedule, 60_000).unref();
        },
      );
    }, inMs);
    timer.unref();
  };
  schedule();
  return {
    source: 'service-account',
    current: () => requested.token,
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}

async function requestToken(
  kc: KubeConfig,
  namespace: string,
): Promise<{ token: string; expiresAt: number }> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    const r = await core.createNamespacedServiceAccountToken({
      name: MANAGER_CLIENT_SERVICE_ACCOUNT,
      namespace,
      body: { spec: { audiences: [MANAGER_TOKEN_AUDIENCE], expirationSeconds: REQUESTED_SECONDS } },
    });
    const token = r.status?.token ?? '';
    if (token === '') throw new Error('the API server returned no token');
    const exp = r.status?.expirationTimestamp;
    return { token, expiresAt: exp ? new Date(exp).getTime() : Date.now() + REQUESTED_SECONDS * 1000 };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const what = `create serviceaccounts/token "${MANAGER_CLIENT_SERVICE_ACCOUNT}" in namespace "${namespace}"`;
    if (code === 403)
      throw new TpError('cluster', `you may not ${what}: needed to authenticate to the traffic-manager`, {
        hint: 'your kubeconfig uses a client certificate; ask the cluster admin for the telepresence client role (charts/telepresence README, "Client permissions")',
        cause: e,
      });
    if (code === 404)
      throw new TpError(
        'cluster',
        `service account ${namespace}/${MANAGER_CLIENT_SERVICE_ACCOUNT} not found`,
        {
          hint: 'install the chart with clientRbac.create=true (it creates the service account clients authenticate as)',
          cause: e,
        },
      );
    throw new TpError('cluster', `cannot ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A refusal by the traffic-manager as a one-line error naming what is missing (the manager's message
 * names the permission); undefined for other errors. `token` explains a missing token.
 */
export function managerAuthError(e: unknown, token: ManagerToken | undefined): TpError | undefined {
  const err = e as Partial<ServiceError>;
  if (err.code === status.UNAUTHENTICATED) {
    if (token?.problem !== undefined) return token.problem;
    return new TpError('cluster', `the traffic-manager did not accept your identity: ${err.details ?? ''}`, {
      hint: 'check that your kubeconfig works (kubectl auth whoami)',
      cause: e,
    });
  }
  if (err.code === status.PERMISSION_DENIED)
    return new TpError('cluster', `the traffic-manager refused: ${err.details ?? ''}`, { cause: e });
  return undefined;
}
