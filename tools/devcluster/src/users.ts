// Kubeconfigs for ordinary users (`devcluster kubeconfig --user NAME`): a client certificate signed by
// the cluster CA (CN = NAME, O = each group), or with `token` a bearer token added to the API server's
// static token file. Such a user has no rights beyond the defaults for system:authenticated until a
// Role/ClusterRole binding grants them.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tokenFileLine } from './api/authn.js';
import { issueClientCert } from './api/certs.js';
import { renderKubeconfig, type Credential } from './kubeconfig.js';
import { files, type ReadyInfo } from './state.js';

export interface UserKubeconfigOptions {
  readonly user: string;
  readonly groups?: readonly string[];
  /** A bearer token instead of a client certificate. */
  readonly token?: boolean;
}

export interface UserKubeconfigs {
  /** For use inside the workstation namespace. */
  readonly kubeconfig: string;
  /** For use on the host (loopback). */
  readonly hostKubeconfig: string;
}

const reserved = /^system:(masters|anonymous|unauthenticated|authenticated)$|^system:serviceaccount/;

export async function writeUserKubeconfig(
  ready: Pick<ReadyInfo, 'name' | 'apiUrl' | 'hostApiUrl'>,
  stateDir: string,
  o: UserKubeconfigOptions,
): Promise<UserKubeconfigs> {
  const groups = o.groups ?? [];
  if (!/^[a-z0-9]([a-z0-9._@-]*[a-z0-9])?$/i.test(o.user))
    throw new Error(`invalid user name ${JSON.stringify(o.user)}: use letters, digits and ._@-`);
  for (const g of groups)
    if (reserved.test(g) || g === '')
      throw new Error(`group ${JSON.stringify(g)} is reserved (use the admin kubeconfig for system:masters)`);
  const caPem = readFileSync(path.join(stateDir, files.caCert), 'utf8');
  let credential: Credential;
  if (o.token) {
    const token = randomBytes(24).toString('hex');
    appendFileSync(path.join(stateDir, files.tokens), tokenFileLine(token, o.user, groups), { mode: 0o600 });
    credential = { token };
  } else {
    const key = readFileSync(path.join(stateDir, files.caKey), 'utf8');
    credential = await issueClientCert({ cert: caPem, key }, o.user, groups);
  }
  const dir = path.join(stateDir, files.users);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cluster = `devcluster-${ready.name}`;
  const out = {
    kubeconfig: path.join(dir, `${o.user}.kubeconfig`),
    hostKubeconfig: path.join(dir, `${o.user}.kubeconfig.host`),
  };
  writeFileSync(out.kubeconfig, renderKubeconfig(cluster, ready.apiUrl, caPem, credential, o.user), {
    mode: 0o600,
  });
  writeFileSync(out.hostKubeconfig, renderKubeconfig(cluster, ready.hostApiUrl, caPem, credential, o.user), {
    mode: 0o600,
  });
  return out;
}
