// `telepresence gather-logs`: one archive for a bug report, made as the user: the daemon's log, status,
// versions, the configuration, and the traffic-manager's and traffic-agents' logs read through the
// cluster's API with the user's kubeconfig. Every file is redacted (redact.ts) before it is archived.
// What cannot be collected is listed in errors.txt instead of failing the command.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { daemon } from '@telepresence/rpc';
import type { DaemonPaths } from '../daemon/paths.js';
import { NOT_CONNECTED } from '../daemon/not-connected.js';
import { formatConfigValues, pushedLayerOf, readConfigValues } from './config-view.js';
import { daemonStatus, isDaemonRunning, openDaemonClient } from './daemon-client.js';
import { formatStatus } from './output.js';
import { redactSecrets } from './redact.js';
import { versionReport } from './version-command.js';

/** A pod's log, named for the archive (e.g. traffic-manager/traffic-manager-abc.log). */
export interface ClusterLog {
  readonly name: string;
  readonly text: string;
}

export interface GatherOptions {
  readonly paths: DaemonPaths;
  readonly env: NodeJS.ProcessEnv;
  readonly output: string;
  /** The cluster's logs; errors are reported, not fatal. */
  readonly clusterLogs: () => Promise<ClusterLog[]>;
}

export interface GatherResult {
  readonly archive: string;
  readonly files: string[];
  readonly errors: string[];
}

export async function gatherLogs(o: GatherOptions): Promise<GatherResult> {
  const files = new Map<string, string>();
  const errors: string[] = [];
  const attempt = async (what: string, body: () => Promise<void> | void): Promise<void> => {
    try {
      await body();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  await attempt('daemon log', () => {
    files.set('daemon.log', fs.readFileSync(o.paths.logFile, 'utf8'));
  });
  let status: daemon.StatusResponse | undefined;
  await attempt('status', async () => {
    if (!(await isDaemonRunning(o.paths))) {
      files.set('status.json', JSON.stringify(NOT_CONNECTED, null, 2));
      return;
    }
    const client = openDaemonClient(o.paths);
    try {
      status = await daemonStatus(client);
      files.set('status.json', formatStatus(status, 'json'));
    } finally {
      client.close();
    }
  });
  await attempt('version', async () => {
    const v = await versionReport(o.paths);
    files.set('version.txt', [...v.lines, ...v.warnings.map((w) => `warning: ${w}`)].join('\n'));
  });
  await attempt('config', () => {
    const { file, values } = readConfigValues(o.env, pushedLayerOf(status));
    files.set('config-view.txt', formatConfigValues(values, false));
    if (fs.existsSync(file)) files.set('config.yml', fs.readFileSync(file, 'utf8'));
  });
  await attempt('cluster logs', async () => {
    for (const log of await o.clusterLogs()) files.set(path.join('cluster', log.name), log.text);
  });
  if (errors.length > 0) files.set('errors.txt', errors.join('\n'));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telepresence-logs-'));
  try {
    for (const [name, text] of files) {
      const file = path.join(dir, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `${redactSecrets(text).trimEnd()}\n`, { mode: 0o600 });
    }
    await promisify(execFile)('tar', ['-czf', path.resolve(o.output), '-C', dir, ...files.keys()]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { archive: path.resolve(o.output), files: [...files.keys()], errors };
}

/** The traffic-manager's and the traffic-agents' logs, read with the user's kubeconfig. */
export async function readClusterLogs(options: {
  kubeconfig: string;
  context: string;
  managerNamespace: string;
}): Promise<ClusterLog[]> {
  const { CoreV1Api, KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (options.kubeconfig !== '') kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context !== '') kc.setCurrentContext(options.context);
  const core = kc.makeApiClient(CoreV1Api);
  const logs: ClusterLog[] = [];
  const managers = await core.listNamespacedPod({
    namespace: options.managerNamespace,
    labelSelector: 'app.kubernetes.io/name=traffic-manager',
  });
  for (const pod of managers.items) {
    const name = pod.metadata?.name ?? '';
    const text = await core.readNamespacedPodLog({ namespace: options.managerNamespace, name });
    logs.push({ name: `traffic-manager/${name}.log`, text });
  }
  const all = await core.listPodForAllNamespaces();
  for (const pod of all.items) {
    if (!pod.spec?.containers.some((c) => c.name === 'traffic-agent')) continue;
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const text = await core.readNamespacedPodLog({ namespace: ns, name, container: 'traffic-agent' });
    logs.push({ name: `traffic-agents/${ns}/${name}.log`, text });
  }
  return logs;
}
