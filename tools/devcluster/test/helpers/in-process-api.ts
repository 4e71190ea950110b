// The API server in-process on loopback with the supervisor's authentication and RBAC wiring: an admin
// bearer token (system:masters), the default cluster roles, and helpers to make users.
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Authenticator, StaticTokens, type UserInfo } from '../../src/api/authn.js';
import { bootstrapRbac } from '../../src/api/bootstrap-rbac.js';
import { createCa, issueClientCert, issueServerCert, type KeyPair } from '../../src/api/certs.js';
import { ApiCore } from '../../src/api/core.js';
import { checkEscalation } from '../../src/api/escalation.js';
import { Authorizer } from '../../src/api/rbac.js';
import { resourceTypes } from '../../src/api/resources.js';
import { Reviews } from '../../src/api/reviews.js';
import { TokenSigner } from '../../src/api/sa-tokens.js';
import { createApiServer } from '../../src/api/server.js';
import { ServiceIpAllocator } from '../../src/api/service-ips.js';
import { Store } from '../../src/api/store.js';
import { renderKubeconfig, type Credential } from '../../src/kubeconfig.js';

export interface InProcessApi {
  readonly url: string;
  readonly ca: KeyPair;
  readonly adminToken: string;
  readonly store: Store;
  readonly core: ApiCore;
  readonly signer: TokenSigner;
  readonly authn: Authenticator;
  /** A kubeconfig (text) for a credential. */
  kubeconfig(credential: Credential, user?: string): string;
  /** A bearer token for a user with these groups (system:authenticated is added). */
  tokenFor(user: string, groups?: string[]): string;
  clientCert(user: string, groups?: string[]): Promise<KeyPair>;
  close(): void;
}

export async function startInProcessApi(namespaces = ['default', 'other']): Promise<InProcessApi> {
  const ca = await createCa('test-ca');
  const tls = await issueServerCert(ca, 'kube-apiserver', ['localhost'], ['127.0.0.1']);
  const store = new Store({ historyLimit: 50 });
  const authz = new Authorizer(store);
  const core = new ApiCore({
    store,
    serviceIps: new ServiceIpAllocator('198.19.0.0/20'),
    admit: (t, user, obj) => checkEscalation(authz, store, t, user, obj),
  });
  core.caPem = ca.cert;
  const { clusterRoles, clusterRoleBindings } = bootstrapRbac();
  for (const r of clusterRoles) store.create('rbac.authorization.k8s.io/clusterroles', r);
  for (const b of clusterRoleBindings) store.create('rbac.authorization.k8s.io/clusterrolebindings', b);
  for (const ns of namespaces) {
    await core.create(
      resourceTypes.find((t) => t.plural === 'namespaces')!,
      undefined,
      {
        metadata: { name: ns },
      },
    );
  }
  const users = new Map<string, UserInfo>();
  const adminToken = 'admin-token';
  users.set(adminToken, { username: 'kubernetes-admin', groups: ['system:masters'] });
  const signer = new TokenSigner();
  const authn = new Authenticator({ store, signer, staticTokens: new StaticTokens(undefined, users) });
  const server = createApiServer({
    core,
    authn,
    authz,
    signer,
    reviews: new Reviews({ store, authn, authz, signer }),
    clientCa: ca.cert,
    tls,
    dialPod: () => new net.Socket(),
    advertiseAddress: '127.0.0.1:443',
    bookmarkIntervalMs: 100,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let n = 0;
  return {
    url,
    ca,
    adminToken,
    store,
    core,
    signer,
    authn,
    kubeconfig: (credential, user) => renderKubeconfig('test', url, ca.cert, credential, user),
    tokenFor(user, groups = []) {
      const token = `token-${user}-${++n}`;
      users.set(token, { username: user, groups });
      return token;
    },
    clientCert: (user, groups = []) => issueClientCert(ca, user, groups),
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
