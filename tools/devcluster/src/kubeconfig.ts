// Kubeconfig files with the cluster CA embedded and a user's credential: a client certificate
// (the admin: CN=kubernetes-admin, O=system:masters; developers: CN=<user>, O=<groups>) or a bearer token.
import { stringify } from 'yaml';

export type Credential = { readonly cert: string; readonly key: string } | { readonly token: string };

export function renderKubeconfig(
  name: string,
  server: string,
  caPem: string,
  credential: Credential,
  userName = `${name}-admin`,
): string {
  const user =
    'token' in credential
      ? { token: credential.token }
      : {
          'client-certificate-data': Buffer.from(credential.cert).toString('base64'),
          'client-key-data': Buffer.from(credential.key).toString('base64'),
        };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } },
    ],
    users: [{ name: userName, user }],
    contexts: [{ name, context: { cluster: name, user: userName, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  });
}
