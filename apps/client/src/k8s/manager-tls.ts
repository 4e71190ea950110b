// TLS to a traffic-manager reached directly (`connect --manager-address`): the CA bundle the manager
// publishes in its namespace's ConfigMap traffic-manager-ca (chart value apiTLS.port), read through the
// API server, which the client already trusts. The certificate is checked for the name
// traffic-manager.<namespace>, whatever address the user gave (a load balancer, a node port). TLS is
// asked for with the address: `--manager-address https://HOST:PORT` (the manager's apiTLS port).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

import { TpError } from '../util/errors.js';

export const MANAGER_CA_CONFIGMAP = 'traffic-manager-ca';
const CA_KEY = 'ca.crt';

export interface ManagerTls {
  readonly ca: string;
  readonly servername: string;
}

/** `--manager-address https://HOST:PORT` asks for TLS; `HOST:PORT` is plain gRPC (as before). */
export function parseManagerAddress(text: string): { address: string; tls: boolean } {
  const m = /^https:\/\/(.*)$/i.exec(text);
  return m === null
    ? { address: text, tls: false }
    : { address: (m[1] ?? '').replace(/\/+$/, ''), tls: true };
}

/** The CA to verify the manager with; a clear error when the cluster publishes none or it cannot be read. */
export async function managerTls(kc: KubeConfig, namespace: string): Promise<ManagerTls> {
  const what = `get configmaps "${MANAGER_CA_CONFIGMAP}" in namespace "${namespace}"`;
  let cm;
  try {
    cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: MANAGER_CA_CONFIGMAP, namespace });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 404)
      throw new TpError(
        'cluster',
        `the cluster publishes no traffic-manager CA (${namespace}/${MANAGER_CA_CONFIGMAP} not found)`,
        {
          hint: 'the traffic-manager serves TLS only with the chart value apiTLS.port; without it use --manager-address HOST:PORT (not encrypted)',
          cause: e,
        },
      );
    if (code === 403)
      throw new TpError(
        'cluster',
        `you may not ${what}: needed to verify the traffic-manager's certificate`,
        {
          hint: 'ask the cluster admin for the telepresence client role (charts/telepresence README, "Client permissions")',
          cause: e,
        },
      );
    throw new TpError('cluster', `cannot ${what}: ${(e as Error).message}`, { cause: e });
  }
  const ca = cm.data?.[CA_KEY] ?? '';
  if (ca === '')
    throw new TpError(
      'cluster',
      `the traffic-manager has not published its CA yet (${namespace}/${MANAGER_CA_CONFIGMAP} is empty)`,
      {
        hint: 'wait a minute and connect again, or check the traffic-manager log ("cannot publish the API CA")',
      },
    );
  return { ca, servername: `traffic-manager.${namespace}` };
}
