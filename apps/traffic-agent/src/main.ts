// The traffic-agent process: the only place that reads process.env, creates the root logger and wires
// the real environment (the manager over in-cluster gRPC, the pod's resolv.conf, signals).
import { readFileSync } from 'node:fs';

import { credentials } from '@grpc/grpc-js';
import { pino } from 'pino';

import { ManagerService, type ManagerClient, type common } from '@telepresence/rpc';
import { Http2TunnelClient, fastTunnelClient, tuneHeapForStreaming } from '@telepresence/tunnel';

import { AGENT_VERSION, startAgent } from './agent.js';
import { ConfigError, parseAgentConfig } from './config.js';
import { grpcManagerApi } from './manager-api.js';
import { bearerHeaders, bearerInterceptor } from '@telepresence/rpc';
import { tokenFile } from './manager-token.js';
import type { HostsTable } from './pod-resolver.js';
import { installRedirects } from './port-redirect.linux.js';

/**
 * The pod's DNS resolver, loaded and set up on the first lookup: its modules (dns-core, dns-packet) are a
 * good part of the agent's start-up time, and only clients with intercepts ask for lookups; arriving at the
 * manager (what an intercept waits for) does not need them.
 */
function lazyPodResolver(
  config: { resolvConfPath: string; hostsPath: string; namespace: string },
  log: { warn(obj: object, msg: string): void },
): (q: common.DNSQuestion) => Promise<common.DNSAnswer> {
  let ready: Promise<(q: common.DNSQuestion) => Promise<common.DNSAnswer>> | undefined;
  const load = async () => {
    const { lookupInPod, nodeExactLookup, parseHosts } = await import('./pod-resolver.js');
    const { clusterDomainFromSearch, parseResolvConf } = await import('@telepresence/dns-core');
    let resolvText = '';
    try {
      resolvText = readFileSync(config.resolvConfPath, 'utf8');
    } catch (e) {
      log.warn({ err: String(e), path: config.resolvConfPath }, 'cannot read resolv.conf; using defaults');
    }
    const parsed = parseResolvConf(resolvText);
    const clusterDomain = clusterDomainFromSearch(parsed.search, config.namespace);
    const resolvConf = clusterDomain === undefined ? parsed : { ...parsed, clusterDomain };
    const exact = nodeExactLookup(resolvConf.nameservers);
    // The pod's hosts file, re-read at most once a second (it can change: the kubelet owns it).
    let hosts: { at: number; table: HostsTable } | undefined;
    const readHosts = (): HostsTable => {
      const now = Date.now();
      if (hosts === undefined || now - hosts.at > 1000) {
        let text = '';
        try {
          text = readFileSync(config.hostsPath, 'utf8');
        } catch {
          // no hosts file: DNS only
        }
        hosts = { at: now, table: parseHosts(text) };
      }
      return hosts.table;
    };
    return (q: common.DNSQuestion) => lookupInPod(q, resolvConf, exact, readHosts());
  };
  return async (q) => {
    ready ??= load();
    return (await ready)(q);
  };
}

async function main(): Promise<void> {
  tuneHeapForStreaming();
  let config;
  try {
    config = parseAgentConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = pino({
    level: config.logLevel,
    base: { app: 'traffic-agent', version: AGENT_VERSION, pod: config.podName },
  });
  log.info(
    {
      manager: `${config.managerHost}:${config.managerPort}`,
      workload: config.workload,
      ns: config.namespace,
    },
    'traffic-agent starting',
  );

  const removeRedirects = await installRedirects(config.ports);
  // The pod's token proves to the manager which pod this agent runs in (AGENT_TOKEN_FILE, set by the injector).
  const token = tokenFile(
    process.env['AGENT_TOKEN_FILE'] ?? '/var/run/secrets/telepresence.io/agent/token',
    (m) => log.warn(`${m}; the traffic-manager refuses agents without it unless its auth.mode is disabled`),
  );
  const FastManagerClient = fastTunnelClient<ManagerClient>(
    ManagerService,
    'telepresence.manager.v1.Manager',
  );
  const newClient = () =>
    new FastManagerClient(`${config.managerHost}:${config.managerPort}`, credentials.createInsecure(), {
      // Notice a dead manager connection (manager pod gone) instead of waiting on it.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // A restarted manager is back in seconds; grpc-js's default (up to 120 s between attempts) would keep
      // the agent, and so the intercepts it serves, away from it long after (issue 18: 30 s budget).
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      interceptors: [bearerInterceptor(token)],
    });
  // The manager's Service is headless: a new manager pod has a new address. A grpc-js channel keeps
  // dialing the address it resolved and looks the name up again at most every 30 s (or not at all while
  // it has an address to try), so after a failed arrival the session loop renews the channel.
  let client = newClient();
  const clients = {
    current: () => client,
    renew: () => {
      client.close();
      client = newClient();
    },
  };
  // Intercepted flows go on node:http2 straight (grpc-js costs about 2.5x its CPU per byte). Its receive
  // windows bound what a paused flow holds in this sidecar (256Mi limit); the manager is in-cluster
  // (sub-ms round trip): 512 KiB per flow, 4 MiB per connection is plenty.
  const tunnels = new Http2TunnelClient(`${config.managerHost}:${config.managerPort}`, {
    streamWindowBytes: 512 * 1024,
    connectionWindowBytes: 4 * 1024 * 1024,
    headers: bearerHeaders(token),
  });
  const agent = await startAgent({
    config,
    api: grpcManagerApi(clients, { tunnels }),
    log,
    resolve: lazyPodResolver(config, log),
  });

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    agent
      .close()
      .then(removeRedirects)
      .then(
        () => {
          tunnels.close();
          client.close();
          process.exit(0);
        },
        (e: unknown) => {
          log.error({ err: String(e) }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`traffic-agent failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
