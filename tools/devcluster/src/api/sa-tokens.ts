// Service-account JWTs as the kube-apiserver's token signer makes them (ES256): the projected kind
// (audience-bound, expiring, optionally bound to a Pod or Secret) and the legacy kind (a Secret of type
// kubernetes.io/service-account-token, valid while that Secret exists).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export const issuer = 'https://kubernetes.default.svc.cluster.local';
/** The audiences the API server itself accepts (--api-audiences defaults to the issuer). */
export const apiAudiences: readonly string[] = [issuer];
export const legacyIssuer = 'kubernetes/serviceaccount';

export interface BoundObject {
  readonly kind: 'Pod' | 'Secret';
  readonly name: string;
  readonly uid: string;
}

export interface ProjectedClaims {
  readonly aud: string[];
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number;
  readonly iss: string;
  readonly jti: string;
  readonly sub: string;
  readonly 'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

export interface LegacyClaims {
  readonly iss: typeof legacyIssuer;
  readonly sub: string;
  readonly 'kubernetes.io/serviceaccount/namespace': string;
  readonly 'kubernetes.io/serviceaccount/secret.name': string;
  readonly 'kubernetes.io/serviceaccount/service-account.name': string;
  readonly 'kubernetes.io/serviceaccount/service-account.uid': string;
}

export interface MintRequest {
  readonly namespace: string;
  readonly serviceAccount: { name: string; uid: string };
  readonly audiences?: readonly string[];
  readonly expirationSeconds?: number;
  readonly bound?: BoundObject;
  readonly node?: { name: string; uid: string };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export class TokenSigner {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly keyId: string;

  constructor(privateKeyPem?: string) {
    if (privateKeyPem) {
      this.privateKey = createPrivateKey(privateKeyPem);
      this.publicKey = createPublicKey(this.privateKey);
    } else {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      this.privateKey = pair.privateKey;
      this.publicKey = pair.publicKey;
    }
    const jwk = this.publicKey.export({ format: 'jwk' });
    this.keyId = Buffer.from(`${jwk.x ?? ''}${jwk.y ?? ''}`)
      .toString('base64url')
      .slice(0, 43);
  }

  /** The JSON Web Key Set of /openid/v1/jwks. */
  jwks(): Record<string, unknown> {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return {
      keys: [{ use: 'sig', kty: 'EC', kid: this.keyId, alg: 'ES256', crv: jwk.crv, x: jwk.x, y: jwk.y }],
    };
  }

  private sign(payload: object): string {
    const head = `${b64({ alg: 'ES256', kid: this.keyId })}.${b64(payload)}`;
    const sig = sign('sha256', Buffer.from(head), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${sig.toString('base64url')}`;
  }

  mintProjected(r: MintRequest): { token: string; claims: ProjectedClaims } {
    const now = Math.floor(Date.now() / 1000);
    const k8s: ProjectedClaims['kubernetes.io'] = {
      namespace: r.namespace,
      serviceaccount: { name: r.serviceAccount.name, uid: r.serviceAccount.uid },
      ...(r.bound?.kind === 'Pod' ? { pod: { name: r.bound.name, uid: r.bound.uid } } : {}),
      ...(r.bound?.kind === 'Secret' ? { secret: { name: r.bound.name, uid: r.bound.uid } } : {}),
      ...(r.node ? { node: r.node } : {}),
    };
    const claims: ProjectedClaims = {
      aud: [...(r.audiences && r.audiences.length > 0 ? r.audiences : apiAudiences)],
      exp: now + (r.expirationSeconds ?? 3600),
      iat: now,
      nbf: now,
      iss: issuer,
      jti: randomUUID(),
      sub: `system:serviceaccount:${r.namespace}:${r.serviceAccount.name}`,
      'kubernetes.io': k8s,
    };
    return { token: this.sign(claims), claims };
  }

  mintLegacy(namespace: string, sa: { name: string; uid: string }, secretName: string): string {
    const claims: LegacyClaims = {
      iss: legacyIssuer,
      sub: `system:serviceaccount:${namespace}:${sa.name}`,
      'kubernetes.io/serviceaccount/namespace': namespace,
      'kubernetes.io/serviceaccount/secret.name': secretName,
      'kubernetes.io/serviceaccount/service-account.name': sa.name,
      'kubernetes.io/serviceaccount/service-account.uid': sa.uid,
    };
    return this.sign(claims);
  }

  /** The claims of a token this signer made, or undefined (not a JWT, another key, bad signature). */
  verify(token: string): Record<string, unknown> | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, p, s] = parts as [string, string, string];
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (header['alg'] !== 'ES256') return undefined;
      const ok = verify(
        'sha256',
        Buffer.from(`${h}.${p}`),
        { key: this.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(s, 'base64url'),
      );
      if (!ok) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
      return typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
}
