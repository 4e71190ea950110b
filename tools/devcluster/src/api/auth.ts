// Bearer-token authentication (no RBAC: every authenticated caller may do everything).
import { createHmac, randomBytes } from 'node:crypto';

export class Tokens {
  private readonly users = new Map<string, string>();
  private readonly key = randomBytes(32);

  constructor(readonly adminToken: string = randomBytes(24).toString('hex')) {
    this.users.set(adminToken, 'kubernetes-admin');
  }

  /** Who the Authorization header belongs to, or undefined when it is missing or unknown. */
  authenticate(header: string | undefined): string | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    return m ? this.users.get(m[1] ?? '') : undefined;
  }

  /** A JWT-shaped service-account token, as a TokenRequest or the projected volume yields. */
  mintServiceAccountToken(namespace: string, serviceAccount: string, expirationSeconds = 3607): string {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const sub = `system:serviceaccount:${namespace}:${serviceAccount}`;
    const header = b64({ alg: 'HS256', kid: 'devcluster' });
    const payload = b64({
      aud: ['https://kubernetes.default.svc.cluster.local'],
      iss: 'https://kubernetes.default.svc.cluster.local',
      iat: now,
      exp: now + expirationSeconds,
      sub,
      'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount } },
    });
    const sig = createHmac('sha256', this.key).update(`${header}.${payload}`).digest('base64url');
    const token = `${header}.${payload}.${sig}`;
    this.users.set(token, sub);
    return token;
  }
}
