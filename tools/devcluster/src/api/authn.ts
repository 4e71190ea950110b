// Authentication as a kube-apiserver does it: client certificates signed by the cluster CA (CN = user,
// O = groups), static bearer tokens (a token file: token,user,uid,"group1,group2"), service-account
// tokens (projected: audience-bound, expiring, bound to a pod or secret; legacy: a token Secret), and
// anonymous requests (system:anonymous) when no credential is sent. A credential that is sent but not
// valid is 401 Unauthorized.
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ApiError } from './errors.js';
import { field, isRecord, str } from './object.js';
import { apiAudiences, legacyIssuer, type TokenSigner } from './sa-tokens.js';
import type { Store } from './store.js';

export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export const anonymous: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

export type TokenResult =
  { readonly user: UserInfo; readonly audiences: readonly string[] } | { readonly error: string };

/** Static bearer tokens, from a kube-apiserver --token-auth-file style CSV (re-read when it changes). */
export class StaticTokens {
  private cache = new Map<string, UserInfo>();
  private mtimeMs = -1;

  constructor(
    private readonly file?: string,
    private readonly fixed: ReadonlyMap<string, UserInfo> = new Map(),
  ) {}

  lookup(token: string): UserInfo | undefined {
    return this.fixed.get(token) ?? this.fromFile().get(token);
  }

  private fromFile(): Map<string, UserInfo> {
    if (!this.file) return this.cache;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
    } catch {
      return this.cache;
    }
    if (mtimeMs === this.mtimeMs) return this.cache;
    this.mtimeMs = mtimeMs;
    this.cache = parseTokenFile(readFileSync(this.file, 'utf8'));
    return this.cache;
  }
}

export function parseTokenFile(text: string): Map<string, UserInfo> {
  const out = new Map<string, UserInfo>();
  for (const line of text.split('\n')) {
    const m = /^([^,\s]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?$/.exec(line.trim());
    if (!m) continue;
    const groups = (m[4] ?? '').split(',').filter((g) => g !== '');
    out.set(m[1] ?? '', { username: m[2] ?? '', uid: m[3] ?? '', groups });
  }
  return out;
}

export function tokenFileLine(token: string, user: string, groups: readonly string[]): string {
  if (!/^[A-Za-z0-9._-]+$/.test(token)) throw new Error(`bad token ${JSON.stringify(token)}`);
  return `${token},${user},${user},"${groups.join(',')}"\n`;
}

export interface AuthenticatorOptions {
  readonly store: Store;
  readonly signer: TokenSigner;
  readonly staticTokens?: StaticTokens;
  readonly log?: (msg: string) => void;
}

const withAuthenticated = (groups: readonly string[]) =>
  groups.includes('system:authenticated') ? [...groups] : [...groups, 'system:authenticated'];

export class Authenticator {
  constructor(private readonly o: AuthenticatorOptions) {}

  /** Who made the request; throws 401 for a credential that does not authenticate. */
  authenticate(req: IncomingMessage): UserInfo {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw unauthorized();
      const r = this.authenticateToken(m[1] ?? '');
      if ('error' in r) {
        this.o.log?.(`authn: bearer token rejected: ${r.error}`);
        throw unauthorized();
      }
      return r.user;
    }
    const socket = req.socket as Partial<TLSSocket>;
    const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    if (cert && Object.keys(cert).length > 0) {
      if (!socket.authorized) throw unauthorized();
      const cn = first(cert.subject.CN);
      if (!cn) throw unauthorized();
      const orgs = cert.subject.O === undefined ? [] : [cert.subject.O].flat();
      return { username: cn, groups: withAuthenticated(orgs) };
    }
    return anonymous;
  }

  /**
   * A bearer token, as the request authenticator and TokenReview see it. `audiences`: what the caller
   * accepts (default: the API server's own audiences); the result names those the token is valid for.
   */
  authenticateToken(token: string, audiences: readonly string[] = apiAudiences): TokenResult {
    const s = this.o.staticTokens?.lookup(token);
    if (s) {
      // Audience-agnostic credentials count for the API server's own audiences only (as kube's
      // WrapAudienceAgnosticToken does).
      const valid = audiences.filter((a) => apiAudiences.includes(a));
      if (valid.length === 0) return { error: audienceError(apiAudiences, audiences) };
      return { user: { ...s, groups: withAuthenticated(s.groups) }, audiences: valid };
    }
    const claims = this.o.signer.verify(token);
    if (!claims) return { error: 'invalid bearer token' };
    return claims['iss'] === legacyIssuer
      ? this.legacy(token, claims, audiences)
      : this.projected(claims, audiences);
  }

  private serviceAccountUser(ns: string, name: string, uid: string, extra?: Record<string, string[]>) {
    return {
      username: `system:serviceaccount:${ns}:${name}`,
      uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
      ...(extra ? { extra } : {}),
    };
  }

  private legacy(token: string, c: Record<string, unknown>, audiences: readonly string[]): TokenResult {
    const ns = str(c['kubernetes.io/serviceaccount/namespace']) ?? '';
    const saName = str(c['kubernetes.io/serviceaccount/service-account.name']) ?? '';
    const saUid = str(c['kubernetes.io/serviceaccount/service-account.uid']) ?? '';
    const secretName = str(c['kubernetes.io/serviceaccount/secret.name']) ?? '';
    const valid = audiences.filter((a) => apiAudiences.includes(a));
    if (valid.length === 0) return { error: audienceError(apiAudiences, audiences) };
    const secret = this.o.store.get('secrets', ns, secretName);
    const stored = str(field(secret, 'data', 'token'));
    if (!secret || stored === undefined || Buffer.from(stored, 'base64').toString('utf8') !== token) {
      return {
        error: `secret "${secretName}" not found or does not hold this token: token has been invalidated`,
      };
    }
    const sa = this.o.store.get('serviceaccounts', ns, saName);
    if (!sa || sa.metadata.uid !== saUid)
      return { error: `service account ${ns}/${saName} has been deleted` };
    const extra = { 'authentication.kubernetes.io/credential-id': [`Secret=${secretName}`] };
    return { user: this.serviceAccountUser(ns, saName, saUid, extra), audiences: valid };
  }

  private projected(c: Record<string, unknown>, audiences: readonly string[]): TokenResult {
    const k = isRecord(c['kubernetes.io']) ? c['kubernetes.io'] : {};
    const ns = str(k['namespace']) ?? '';
    const saName = str(field(k, 'serviceaccount', 'name')) ?? '';
    const saUid = str(field(k, 'serviceaccount', 'uid')) ?? '';
    const now = Date.now() / 1000;
    if (typeof c['exp'] !== 'number' || c['exp'] < now) return { error: 'service account token has expired' };
    if (typeof c['nbf'] === 'number' && c['nbf'] > now + 60)
      return { error: 'service account token is not valid yet' };
    const aud = Array.isArray(c['aud']) ? c['aud'].map(String) : [String(c['aud'])];
    const valid = audiences.filter((a) => aud.includes(a));
    if (valid.length === 0) return { error: audienceError(aud, audiences) };
    const sa = this.o.store.get('serviceaccounts', ns, saName);
    if (!sa)
      return {
        error: `service account ${ns}/${saName} has been deleted: service account token has been invalidated`,
      };
    if (sa.metadata.uid !== saUid)
      return { error: `service account UID (${sa.metadata.uid ?? ''}) does not match claim (${saUid})` };
    const extra: Record<string, string[]> = {};
    for (const kind of ['pod', 'secret'] as const) {
      const ref = k[kind];
      if (!isRecord(ref)) continue;
      const name = str(ref['name']) ?? '';
      const obj = this.o.store.get(`${kind}s`, ns, name);
      if (!obj) return { error: `${kind} "${name}" not found: service account token has been invalidated` };
      if (obj.metadata.uid !== ref['uid'])
        return {
          error: `${kind} UID (${obj.metadata.uid ?? ''}) does not match claim (${String(ref['uid'])}): service account token has been invalidated`,
        };
      extra[`authentication.kubernetes.io/${kind}-name`] = [name];
      extra[`authentication.kubernetes.io/${kind}-uid`] = [String(ref['uid'])];
    }
    const node = k['node'];
    if (isRecord(node)) {
      extra['authentication.kubernetes.io/node-name'] = [String(node['name'])];
      extra['authentication.kubernetes.io/node-uid'] = [String(node['uid'])];
    }
    if (typeof c['jti'] === 'string')
      extra['authentication.kubernetes.io/credential-id'] = [`JTI=${c['jti']}`];
    return { user: this.serviceAccountUser(ns, saName, saUid, extra), audiences: valid };
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function audienceError(tokenAud: readonly string[], wanted: readonly string[]): string {
  return `token audiences ${JSON.stringify(tokenAud)} is invalid for the target audiences ${JSON.stringify(wanted)}`;
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}
