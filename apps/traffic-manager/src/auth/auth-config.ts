// The manager's caller authentication settings (chart value auth.*), parsed from the environment.
import { AGENT_TOKEN_AUDIENCE } from '../injector/agent-patch.js';
import { parseDurationMs } from '../util/units.js';

export type AuthMode = 'enforcing' | 'permissive' | 'disabled';
export const AUTH_MODES: readonly AuthMode[] = ['enforcing', 'permissive', 'disabled'];

/** The audience of the projected token the injector mounts into agents (only agents present it). */
export const AGENT_AUDIENCE = AGENT_TOKEN_AUDIENCE;
/** The audience of the tokens clients request for a service account (apps/client manager-token.ts). */
export const CLIENT_AUDIENCE = 'telepresence-manager';

export interface AuthConfig {
  /** enforcing: refuse; permissive: allow, but log and count what would be refused; disabled: no checks. */
  readonly mode: AuthMode;
  /** How long a review result is reused; at most the clients' keep-alive period (5 s). */
  readonly reviewTtlMs: number;
  /**
   * Audiences a client's own kubeconfig token is valid for: the API server's (API_AUDIENCES, else the
   * `aud` of the manager's own service-account token, which the kubelet requested for the API server).
   */
  readonly apiAudiences: readonly string[];
  /** TLS_PORT: the gRPC API also with TLS on this port (auth/api-tls.ts); 0 = not. */
  readonly tlsPort: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Throws an Error naming the variable and the allowed values. */
export function parseAuthConfig(env: Env, ownTokenAudiences: () => readonly string[]): AuthConfig {
  const raw = (env['AUTH_MODE'] ?? '').trim().toLowerCase();
  const mode = raw === '' ? 'enforcing' : AUTH_MODES.find((m) => m === raw);
  if (mode === undefined)
    throw new Error(`AUTH_MODE: "${env['AUTH_MODE']}" is not one of ${AUTH_MODES.join(', ')}`);
  const ttlRaw = (env['AUTH_REVIEW_TTL'] ?? '').trim();
  const reviewTtlMs = ttlRaw === '' ? 5000 : parseDurationMs(ttlRaw);
  if (reviewTtlMs <= 0 || reviewTtlMs > 5000)
    throw new Error(
      `AUTH_REVIEW_TTL: "${ttlRaw}" must be more than 0 and at most 5s (the clients' keep-alive period)`,
    );
  const tlsText = (env['TLS_PORT'] ?? '').trim();
  const tlsPort = tlsText === '' ? 0 : Number(tlsText);
  if (!Number.isInteger(tlsPort) || tlsPort < 0 || tlsPort > 65535)
    throw new Error(`TLS_PORT: "${tlsText}" is not a port number (0 turns TLS off)`);
  const listed = (env['API_AUDIENCES'] ?? '').split(/[\s,]+/).filter((a) => a !== '');
  return {
    mode,
    reviewTtlMs,
    apiAudiences: mode === 'disabled' ? [] : listed.length > 0 ? listed : ownTokenAudiences(),
    tlsPort,
  };
}

/** The `aud` claim of a JWT (not verified: it only tells which audience the API server accepts). */
export function jwtAudiences(token: string): string[] {
  const payload = token.split('.')[1];
  if (payload === undefined) return [];
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { aud?: unknown };
    if (typeof claims.aud === 'string') return [claims.aud];
    return Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}
