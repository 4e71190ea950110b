// The traffic-manager process: the only place that reads process.env, creates the root logger and wires
// the real environment (in-cluster Kubernetes client, /etc/resolv.conf, signals).
import { readFileSync } from 'node:fs';

import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';

import { parseResolvConf } from '@telepresence/dns-core';
import { tuneHeapForStreaming } from '@telepresence/tunnel';

import { jwtAudiences, parseAuthConfig } from './auth/auth-config.js';
import { CA_CONFIGMAP, CA_CONFIGMAP_KEY } from './auth/api-tls.js';
import { kubeAuthApi, publishCaConfigMap } from './auth/kube-auth-api.js';
import { subnetMath } from './cluster-info/subnet-math.js';
import { ConfigError, parseConfig } from './config.js';
import { parseInjectorConfig } from './injector/injector-config.js';
import { restInjectorApi } from './injector/injector-api.js';
import { createClientNodeApi } from './k8s/client-node-api.js';
import { startTrafficManager } from './traffic-manager.js';
import { MANAGER_VERSION } from './version.js';

/** The manager's own token: its `aud` names the audience the API server accepts (clients' own tokens). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

async function main(): Promise<void> {
  tuneHeapForStreaming();
  let config;
  try {
    config = parseConfig(process.env, subnetMath);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  let authConfig;
  try {
    authConfig = parseAuthConfig(process.env, () => {
      try {
        return jwtAudiences(readFileSync(SERVICE_ACCOUNT_TOKEN, 'utf8'));
      } catch {
        return []; // outside a pod: only agents and clients' service-account tokens are accepted
      }
    });
  } catch (e) {
    process.stderr.write(`invalid traffic-manager configuration:\n  - ${(e as Error).message}\n`);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { app: 'traffic-manager', version: MANAGER_VERSION } });
  log.info(
    { podIp: config.podIp, namespace: config.namespace, podCIDRStrategy: config.podCidrStrategy },
    'traffic-manager starting',
  );

  let resolvText = '';
  try {
    resolvText = readFileSync('/etc/resolv.conf', 'utf8');
  } catch (e) {
    log.warn({ err: String(e) }, 'cannot read /etc/resolv.conf; using defaults');
  }

  const kc = new KubeConfig();
  if (process.env['KUBERNETES_SERVICE_HOST'] !== undefined) {
    // In a pod: service-account token and CA plus KUBERNETES_SERVICE_HOST/PORT.
    kc.loadFromCluster();
  } else if (process.env['KUBECONFIG'] !== undefined) {
    // Outside a cluster, for development: an explicit kubeconfig.
    kc.loadFromFile(process.env['KUBECONFIG']);
  } else {
    process.stderr.write(
      'traffic-manager: not running in a pod (KUBERNETES_SERVICE_HOST is not set) and no KUBECONFIG given; install it with the chart\n',
    );
    process.exit(2);
  }

  const manager = await startTrafficManager({
    config,
    log,
    api: createClientNodeApi(kc),
    subnets: subnetMath,
    resolvConf: parseResolvConf(resolvText),
    version: MANAGER_VERSION,
    injector: { api: restInjectorApi(kc), config: parseInjectorConfig(process.env, config) },
    auth: { api: kubeAuthApi(kc), config: authConfig },
    ...(authConfig.tlsPort === 0
      ? {}
      : {
          apiTls: {
            port: authConfig.tlsPort,
            publish: publishCaConfigMap(kc, config.namespace, CA_CONFIGMAP, CA_CONFIGMAP_KEY),
          },
        }),
  });

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    manager.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(
    `traffic-manager failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
