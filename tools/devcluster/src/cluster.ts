// Starting, stopping and using a devcluster from code (the CLI and e2e tests use this).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { defaultImagesFile, devclusterDir } from './kubelet/images.js';
import { controlRequest } from './control.js';
import { containerSetup } from './kubelet/kubelet.js';
import type { NodeInfo } from './nodes.js';
import { createRouterNamespace, Names, removeRun, validateName } from './net/topology.js';
import { files, processRuns, stateDirOf, type ClusterConfig, type ReadyInfo } from './state.js';
import { writeUserKubeconfig, type UserKubeconfigOptions, type UserKubeconfigs } from './users.js';

export interface DevClusterOptions {
  /** Run name and prefix of everything it creates (1-6 chars, default "dc"). */
  readonly name?: string;
  readonly nodes?: number;
  /** Cluster DNS forwards non-cluster names to the workstation's resolver (like a local cluster). */
  readonly recursiveDns?: boolean;
  /** Extra image-map files (override entries of tools/devcluster/images.json). */
  readonly images?: readonly string[];
  /** Zone the upstream resolver (198.19.255.1) answers; default example.test. */
  readonly upstreamZone?: string;
  /**
   * Share of a projected service-account token's lifetime after which the kubelet replaces it (a real
   * kubelet's: 0.8). Tests shrink it to see a 10-minute token rotated within seconds.
   */
  readonly tokenRefreshFraction?: number;
  readonly timeoutMs?: number;
}

/** Where a command runs: the workstation namespace, or a pod (`pod/<namespace>/<name>`). */
export type ExecTarget = 'ws' | `pod/${string}/${string}`;

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

export interface DevCluster extends ReadyInfo {
  /** Runs a command to completion in the workstation namespace or a pod. */
  exec(
    target: ExecTarget,
    argv: readonly string[],
    options?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
  ): Promise<ExecResult>;
  /** Starts a long-running command there (the caller stops it). */
  spawn(target: ExecTarget, argv: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Adds a node (bridge 198.18.N.0/24, Node object, kubelet) while the cluster runs; name default node-N. */
  addNode(options?: { name?: string }): Promise<NodeInfo>;
  /** Removes a node: its pods are stopped (controllers recreate theirs elsewhere), then kubelet and bridge. */
  removeNode(name: string): Promise<NodeInfo>;
  /** The nodes that have a kubelet. */
  listNodes(): Promise<NodeInfo[]>;
  /**
   * Kubeconfigs for an ordinary user (client certificate CN=user, O=groups; or a bearer token), with no
   * rights until a binding grants some.
   */
  userKubeconfig(options: UserKubeconfigOptions): Promise<UserKubeconfigs>;
  down(): Promise<void>;
}

export class DevClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevClusterError';
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new DevClusterError(
      'devcluster needs root: it creates network namespaces, veth links and nftables rules. Run it as root (e.g. with sudo).',
    );
  }
}

function readReady(name: string): ReadyInfo | undefined {
  try {
    return JSON.parse(readFileSync(path.join(stateDirOf(name), files.ready), 'utf8')) as ReadyInfo;
  } catch {
    return undefined;
  }
}

function readPid(name: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(stateDirOf(name), files.pid), 'utf8'));
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Removes every trace of a run: processes, namespaces (with links and nft tables), files. */
export async function cleanupRun(name: string): Promise<void> {
  await removeRun(name);
  for (const d of existsSync('/etc/netns') ? readdirSync('/etc/netns') : []) {
    if (d.startsWith(`${name}-`)) await rm(path.join('/etc/netns', d), { recursive: true, force: true });
  }
  await rm(stateDirOf(name), { recursive: true, force: true });
}

export async function startDevCluster(options: DevClusterOptions = {}): Promise<DevCluster> {
  requireRoot();
  const name = options.name ?? 'dc';
  const invalid = validateName(name);
  if (invalid) throw new DevClusterError(invalid);
  const nodes = options.nodes ?? 2;
  if (!(Number.isInteger(nodes) && nodes >= 1 && nodes <= 200))
    throw new DevClusterError(`--nodes must be an integer from 1 to 200, not ${nodes}`);
  const supervisorJs = path.join(devclusterDir, 'dist', 'supervisor.js');
  if (!existsSync(supervisorJs)) {
    throw new DevClusterError(
      `${supervisorJs} is missing: build devcluster first (npx nx run @telepresence/devcluster:build)`,
    );
  }
  const existing = readPid(name);
  if (existing && processRuns(existing) && readReady(name)) {
    throw new DevClusterError(
      `devcluster "${name}" is already running (pid ${existing}); run "devcluster down --name ${name}" first`,
    );
  }
  // A previous run that crashed (or was killed) leaves namespaces and files: remove them first.
  await cleanupRun(name);
  const stateDir = stateDirOf(name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const names = new Names(name);
  try {
    await createRouterNamespace(names);
  } catch (err) {
    await cleanupRun(name);
    throw err;
  }

  // The host-side API listener: opened here (host network namespace), inherited by the supervisor.
  const hostListener = net.createServer();
  await new Promise<void>((resolve, reject) => {
    hostListener.once('error', reject);
    hostListener.listen(0, '127.0.0.1', () => resolve());
  });
  const hostPort = (hostListener.address() as net.AddressInfo).port;
  const hostFd = (hostListener as unknown as { _handle: { fd: number } })._handle.fd;

  const cfg: ClusterConfig = {
    name,
    nodes,
    recursiveDns: options.recursiveDns ?? false,
    imageFiles: [defaultImagesFile, ...(options.images ?? []).map((f) => path.resolve(f))],
    upstreamZone: options.upstreamZone ?? 'example.test',
    ...(options.tokenRefreshFraction !== undefined
      ? { tokenRefreshFraction: options.tokenRefreshFraction }
      : {}),
    stateDir,
    hostListenFd: 3,
    hostPort,
  };
  const cfgPath = path.join(stateDir, files.config);
  await writeFile(cfgPath, JSON.stringify(cfg, null, 2));
  const logFd = openSync(path.join(stateDir, files.log), 'a');
  const child = spawn(
    'nsenter',
    [`--net=/run/netns/${names.router}`, '--', process.execPath, supervisorJs, cfgPath],
    {
      detached: true,
      stdio: ['ignore', logFd, logFd, hostFd],
    },
  );
  closeSync(logFd);
  hostListener.close();
  child.unref();
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));

  const deadline = Date.now() + (options.timeoutMs ?? 60000);
  for (;;) {
    const ready = readReady(name);
    if (ready) return attach(ready);
    const failed = path.join(stateDir, files.failed);
    if (exited !== undefined || existsSync(failed) || Date.now() > deadline) {
      const why = existsSync(failed)
        ? readFileSync(failed, 'utf8')
        : exited !== undefined
          ? `supervisor exited with ${exited}`
          : 'timed out';
      const logText = readLogTail(name);
      await stopDevCluster(name);
      throw new DevClusterError(
        `devcluster "${name}" failed to start: ${why}\n--- supervisor log ---\n${logText}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function readLogTail(name: string): string {
  try {
    return readFileSync(path.join(stateDirOf(name), files.log), 'utf8')
      .split('\n')
      .slice(-30)
      .join('\n');
  } catch {
    return '';
  }
}

/** Handle on a running cluster started earlier (e.g. by the CLI). */
export function attachDevCluster(name = 'dc'): DevCluster {
  const ready = readReady(name);
  const pid = readPid(name);
  if (!ready || !pid || !processRuns(pid))
    throw new DevClusterError(
      `devcluster "${name}" is not running; start it with "devcluster up --name ${name}"`,
    );
  return attach(ready);
}

export function clusterStatus(name = 'dc'): (ReadyInfo & { running: boolean }) | undefined {
  const ready = readReady(name);
  if (!ready) return undefined;
  return { ...ready, running: processRuns(ready.pid) };
}

export async function stopDevCluster(name = 'dc'): Promise<void> {
  requireRoot();
  const pid = readPid(name);
  if (pid && processRuns(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + 15000;
    while (processRuns(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }
  await cleanupRun(name);
}

async function control<T>(
  name: string,
  method: 'GET' | 'POST' | 'DELETE',
  urlPath: string,
  body?: unknown,
): Promise<T> {
  requireRoot();
  attachDevCluster(name); // a clear error when it is not running
  const socket = path.join(stateDirOf(name), files.control);
  if (!existsSync(socket)) {
    throw new DevClusterError(
      `devcluster "${name}" has no control socket ${socket} (started by an older devcluster?): restart it with "devcluster down --name ${name}" and "devcluster up --name ${name}"`,
    );
  }
  try {
    return await controlRequest<T>(socket, method, urlPath, body);
  } catch (err) {
    throw new DevClusterError(`devcluster "${name}": ${(err as Error).message}`);
  }
}

/** Adds a node to a running cluster (see DevCluster.addNode). */
export function addNode(name = 'dc', options: { name?: string } = {}): Promise<NodeInfo> {
  return control<NodeInfo>(name, 'POST', '/nodes', options.name === undefined ? {} : { name: options.name });
}

/** Removes a node from a running cluster (see DevCluster.removeNode). */
export function removeNode(name: string, node: string): Promise<NodeInfo> {
  return control<NodeInfo>(name, 'DELETE', `/nodes/${encodeURIComponent(node)}`);
}

export function listNodes(name = 'dc'): Promise<NodeInfo[]> {
  return control<NodeInfo[]>(name, 'GET', '/nodes');
}

/** The argv that runs a command in the workstation namespace or in a pod. */
export function execArgv(
  name: string,
  target: ExecTarget,
  argv: readonly string[],
): { argv: string[]; env: NodeJS.ProcessEnv } {
  const names = new Names(name);
  if (target === 'ws') return { argv: ['ip', 'netns', 'exec', names.workstation, ...argv], env: process.env };
  const m = /^pod\/([^/]+)\/([^/]+)$/.exec(target);
  if (!m) throw new DevClusterError(`invalid exec target "${target}": use ws or pod/<namespace>/<name>`);
  const podsDir = path.join(stateDirOf(name), 'pods');
  const dir = (existsSync(podsDir) ? readdirSync(podsDir) : []).find((d) =>
    d.startsWith(`${m[1] ?? ''}_${m[2] ?? ''}_`),
  );
  const netnsFile = dir ? path.join(podsDir, dir, 'netns') : undefined;
  if (!netnsFile || !existsSync(netnsFile))
    throw new DevClusterError(`pod ${m[1] ?? ''}/${m[2] ?? ''} is not running in devcluster "${name}"`);
  const netns = readFileSync(netnsFile, 'utf8').trim();
  const saDir = path.join(podsDir, dir ?? '', 'sa');
  // The projected volumes of the pod's first container (by name) that has any.
  const mountsRoot = path.join(podsDir, dir ?? '', 'mounts');
  const mounted = existsSync(mountsRoot) ? readdirSync(mountsRoot).sort() : [];
  const mountsDir = mounted[0] === undefined ? '' : path.join(mountsRoot, mounted[0]);
  return {
    argv: ['ip', 'netns', 'exec', netns, 'unshare', '--uts', '--', 'sh', '-c', containerSetup, 'sh', ...argv],
    env: {
      ...process.env,
      DEVCLUSTER_HOSTNAME: m[2] ?? '',
      DEVCLUSTER_SA_DIR: existsSync(saDir) ? saDir : '',
      DEVCLUSTER_MOUNTS_DIR: mountsDir,
    },
  };
}

function attach(ready: ReadyInfo): DevCluster {
  const name = ready.name;
  return {
    ...ready,
    exec(target, argv, options = {}) {
      const { argv: full, env } = execArgv(name, target, argv);
      return new Promise((resolve, reject) => {
        const child = spawn(full[0] ?? 'ip', full.slice(1), {
          env: { ...env, ...(options.env ?? {}) },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = options.timeoutMs
          ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
          : undefined;
        child.on('error', reject);
        child.on('close', (code) => {
          if (timer) clearTimeout(timer);
          resolve({ stdout, stderr, code });
        });
        child.stdin.end(options.input ?? '');
      });
    },
    spawn(target, argv, options = {}) {
      const { argv: full, env } = execArgv(name, target, argv);
      return spawn(full[0] ?? 'ip', full.slice(1), { ...options, env: { ...env, ...(options.env ?? {}) } });
    },
    addNode: (options = {}) => addNode(name, options),
    userKubeconfig: (options) => writeUserKubeconfig(ready, stateDirOf(name), options),
    removeNode: (node) => removeNode(name, node),
    listNodes: () => listNodes(name),
    down: () => stopDevCluster(name),
  };
}
