// Kubernetes access: the kubeconfig (flag, $KUBECONFIG or ~/.kube/config), the context and namespace, and
// the API server's addresses (kept out of the routed set so the port-forward never enters the TUN).
import dns from 'node:dns/promises';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { TpError } from '../util/errors.js';

export interface KubeAccess {
  readonly config: KubeConfig;
  readonly context: string;
  /** The namespace to connect to: --namespace, else the context's, else "default". */
  readonly namespace: string;
  readonly server: string;
  readonly apiServerIps: readonly string[];
}

export interface KubeOptions {
  readonly kubeconfig?: string;
  /** A kubeconfig's content, made by the CLI as its user (user-credentials.ts); wins over `kubeconfig`. */
  readonly kubeconfigYaml?: string;
  readonly context?: string;
  readonly namespace?: string;
  /** Resolver for the server host (tests inject one). */
  readonly lookup?: (host: string) => Promise<string[]>;
}

async function defaultLookup(host: string): Promise<string[]> {
  const addrs = await dns.lookup(host, { all: true });
  return addrs.map((a) => a.address);
}

export async function loadKube(options: KubeOptions): Promise<KubeAccess> {
  const config = new KubeConfig();
  try {
    if (options.kubeconfigYaml !== undefined && options.kubeconfigYaml !== '')
      config.loadFromString(options.kubeconfigYaml);
    else if (options.kubeconfig !== undefined && options.kubeconfig !== '')
      config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (e) {
    throw new TpError(
      'config',
      `reading kubeconfig ${options.kubeconfig ?? ''}: ${(e as Error).message}`.replace('  ', ' '),
      {
        hint: 'check --kubeconfig or $KUBECONFIG',
        cause: e,
      },
    );
  }
  if (options.context !== undefined && options.context !== '') {
    if (!config.getContexts().some((c) => c.name === options.context)) {
      throw new TpError('config', `context "${options.context}" not found in kubeconfig`, {
        hint: `use one of: ${
          config
            .getContexts()
            .map((c) => c.name)
            .join(', ') || '(none)'
        }`,
      });
    }
    config.setCurrentContext(options.context);
  }
  const context = config.getCurrentContext();
  const cluster = config.getCurrentCluster();
  if (cluster === null || context === '') {
    throw new TpError('config', 'kubeconfig has no current context', {
      hint: 'pass --context or set one with kubectl config use-context',
    });
  }
  const contextObj = config.getContextObject(context);
  const namespace =
    options.namespace !== undefined && options.namespace !== ''
      ? options.namespace
      : (contextObj?.namespace ?? 'default');
  let host: string;
  try {
    host = new URL(cluster.server).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new TpError(
      'config',
      `kubeconfig cluster "${cluster.name}" has an invalid server URL "${cluster.server}"`,
    );
  }
  let apiServerIps: string[];
  if (net.isIP(host) !== 0) apiServerIps = [host];
  else {
    try {
      apiServerIps = await (options.lookup ?? defaultLookup)(host);
    } catch (e) {
      throw new TpError('cluster', `cannot resolve the API server host "${host}": ${(e as Error).message}`, {
        hint: 'check the network and the kubeconfig server URL',
        cause: e,
      });
    }
  }
  return { config, context, namespace, server: cluster.server, apiServerIps };
}
