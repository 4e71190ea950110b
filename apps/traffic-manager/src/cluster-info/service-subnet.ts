// Service subnet discovery (reference 3.1): the ServiceCIDR API when served, else the dummy-service trick.
import { isIP } from 'node:net';

import type { Logger } from 'pino';

import { KubeApiError, type ClusterApi } from '../k8s/cluster-api.js';
import type { SubnetMath } from './subnet-math.js';

export const dummyServiceName = 't2-tst-dummy';

export type ServiceSubnetMethod = 'configured' | 'serviceCIDR-api' | 'dummy-service';

export interface ServiceSubnetResult {
  readonly cidr: string;
  readonly method: ServiceSubnetMethod;
}

/** Extracts the range from the API server's "invalid clusterIP" message. */
export function parseValidRange(message: string): string | undefined {
  return /range of valid IPs is ([0-9A-Fa-f:.]+\/\d{1,3})/.exec(message)?.[1];
}

export interface ServiceSubnetOptions {
  readonly api: ClusterApi;
  readonly subnets: SubnetMath;
  readonly log: Logger;
  readonly namespace: string;
  /** Chooses the dummy IP's family. */
  readonly podIp: string;
  readonly configured: string | undefined;
}

/**
 * Finds the service subnet, or undefined after logging what to configure. The dummy Service is never left
 * behind: if its creation ever succeeds (the dummy IP happened to be in range), it is deleted at once.
 */
export async function discoverServiceSubnet(
  options: ServiceSubnetOptions,
  signal: AbortSignal,
): Promise<ServiceSubnetResult | undefined> {
  const { api, subnets, namespace } = options;
  const log = options.log.child({ component: 'service-subnet' });
  const found = (cidr: string, method: ServiceSubnetMethod): ServiceSubnetResult => {
    log.info({ serviceSubnet: cidr, method }, `service subnet ${cidr} (found by ${method})`);
    return { cidr, method };
  };
  if (options.configured !== undefined) {
    return found(options.configured, 'configured');
  }

  try {
    const cidrs = await api.listServiceCidrs(signal);
    const family = isIP(options.podIp);
    const usable = (cidrs ?? []).filter((c) => (family === 6 ? c.includes(':') : !c.includes(':')));
    const first = usable[0] ?? cidrs?.[0];
    if (first !== undefined) {
      return found(subnets.parseCidr(first), 'serviceCIDR-api');
    }
    log.debug({ served: cidrs !== undefined }, 'no ServiceCIDR objects; trying the dummy-service trick');
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 403)
      log.warn(
        { err: e.message },
        'may not list servicecidrs.networking.k8s.io (the chart grants it: see charts/telepresence/README.md); trying the dummy-service trick',
      );
    else log.debug({ err: String(e) }, 'ServiceCIDR API not usable; trying the dummy-service trick');
  }

  const dummyIp = isIP(options.podIp) === 6 ? '1:1::1' : '1.1.1.1';
  let problem: string;
  try {
    await api.createService(
      namespace,
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: dummyServiceName,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'traffic-manager' },
        },
        spec: { clusterIP: dummyIp, ports: [{ port: 443 }] },
      },
      signal,
    );
    // Only an API call: the IP was in range, so the Service exists now and tells us nothing.
    problem = `creating Service ${dummyServiceName} with clusterIP ${dummyIp} unexpectedly succeeded`;
    await removeDummy(api, namespace, log, signal);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const range = parseValidRange(message);
    if (range !== undefined) {
      try {
        return found(subnets.parseCidr(range), 'dummy-service');
      } catch {
        problem = `cannot parse the range "${range}" in the API server's answer`;
      }
    } else {
      problem = `the API server's answer has no valid range: ${message.slice(0, 300)}`;
      if (e instanceof KubeApiError && e.statusCode === 409) {
        // A Service of that name exists (an older run of another tool?): remove it so the next start works.
        await removeDummy(api, namespace, log, signal);
      }
    }
  }
  log.error(
    { problem },
    'could not determine the service subnet (no ServiceCIDR API, dummy-service trick failed); ' +
      "set the chart value serviceCIDR (env SERVICE_CIDR) to the cluster's service CIDR",
  );
  return undefined;
}

async function removeDummy(
  api: ClusterApi,
  namespace: string,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  try {
    await api.deleteService(namespace, dummyServiceName, signal);
    log.warn({ service: dummyServiceName }, 'deleted the dummy Service');
  } catch (e) {
    log.error(
      { err: String(e), service: dummyServiceName },
      `could not delete Service ${dummyServiceName}: delete it by hand`,
    );
  }
}
