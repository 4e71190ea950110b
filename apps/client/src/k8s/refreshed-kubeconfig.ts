// The daemon's kubeconfig when its user's credential comes from an exec plugin the daemon runs again: the
// user's static token/certificate is replaced by an authenticator that hands out the refresher's current
// credential, so every client-node request (API calls, watches, the port-forward WebSocket) and the
// manager token (manager-token.ts) use the newest one. Code that sees a 401 reports it here.
import type { KubeConfig, User } from '@kubernetes/client-node';
import type { CredentialRefresher } from './credential-refresher.js';
import type { ExecCredential } from './exec-credential.js';

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

const refreshers = new WeakMap<KubeConfig, CredentialRefresher>();

/** The refresher behind `kc`, if its credential is refreshed. */
export function refresherOf(kc: KubeConfig): CredentialRefresher | undefined {
  return refreshers.get(kc);
}

/** The API server (or the manager) refused the credential: refresh it now if it can be. */
export function reportUnauthorized(kc: KubeConfig): void {
  void refreshers.get(kc)?.unauthorized();
}

/** A failed API request: if the API server refused the credential (401), refresh it now if it can be. */
export function reportIfUnauthorized(kc: KubeConfig, e: unknown): void {
  if (isUnauthorized(e)) reportUnauthorized(kc);
}

/** Whether an error from client-node or our own requests is an HTTP 401. */
export function isUnauthorized(e: unknown, depth = 0): boolean {
  if (typeof e !== 'object' || e === null || depth > 3) return false;
  const err = e as { code?: unknown; statusCode?: unknown; message?: unknown; cause?: unknown };
  return (
    err.code === 401 ||
    err.statusCode === 401 ||
    /\(HTTP 401\)|HTTP-Code: 401/.test(String(err.message ?? '')) ||
    isUnauthorized(err.cause, depth + 1)
  );
}

/** The kubeconfig's user credential as an ExecCredential (certificate and key as PEM). */
export function credentialOfUser(user: User, expiresAt?: number): ExecCredential {
  const pem = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined);
  const cert = pem(user.certData);
  const key = pem(user.keyData);
  return {
    ...(user.token ? { token: user.token } : {}),
    ...(cert !== undefined && key !== undefined ? { clientCertificateData: cert, clientKeyData: key } : {}),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

/**
 * Makes `kc`'s current user authenticate with `refresher`'s credential. The user's own token and
 * certificate are removed (client-node would let a static token win over any authenticator).
 */
export function attachRefresher(kc: KubeConfig, refresher: CredentialRefresher): void {
  const user = kc.getCurrentUser();
  if (user === null) throw new Error('the kubeconfig has no current user');
  const name = user.name;
  kc.loadFromOptions({
    clusters: kc.getClusters(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
    users: kc.getUsers().map((u) => (u.name === name ? { name } : u)),
  });
  let applied: ExecCredential | undefined;
  const auth: Authenticator = {
    isAuthProvider: (u) => u.name === name,
    applyAuthentication: async (_u, opts) => {
      const c = refresher.current();
      // client-node keeps one https.Agent per cluster and user, made with the first certificate; a new
      // certificate needs a new agent (the port-forward's WebSocket goes through it).
      if (applied !== undefined && applied !== c && c.clientCertificateData !== applied.clientCertificateData)
        forgetAgents(kc);
      applied = c;
      if (c.clientCertificateData !== undefined) {
        opts.cert = c.clientCertificateData;
        opts.key = c.clientKeyData;
      }
      if (c.token !== undefined) opts.headers = { ...opts.headers, Authorization: `Bearer ${c.token}` };
    },
  };
  kc.addAuthenticator(auth);
  refreshers.set(kc, refresher);
}

/** Drops client-node's cached agents (a private Map; checked by refreshed-kubeconfig.spec.ts). */
export function forgetAgents(kc: KubeConfig): void {
  const cache = (kc as unknown as { agentCache?: unknown }).agentCache;
  if (cache instanceof Map) cache.clear();
}
