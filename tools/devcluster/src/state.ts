// Where a run keeps its files: /run/devcluster/<name>/ (tmpfs; gone after reboot).
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const stateRoot = process.env['DEVCLUSTER_STATE_ROOT'] ?? '/run/devcluster';

export interface ClusterConfig {
  readonly name: string;
  readonly nodes: number;
  readonly recursiveDns: boolean;
  readonly imageFiles: readonly string[];
  readonly upstreamZone: string;
  readonly tokenRefreshFraction?: number;
  readonly stateDir: string;
  /** File descriptor (inherited) of a listening socket on the host's loopback for the API server. */
  readonly hostListenFd?: number;
  readonly hostPort?: number;
}

/** What `up` reports and `status` shows, written by the supervisor when the cluster is ready. */
export interface ReadyInfo {
  readonly name: string;
  readonly pid: number;
  readonly nodes: number;
  /** API server URL reachable from the workstation namespace. */
  readonly apiUrl: string;
  /** API server URL reachable from the host (loopback). */
  readonly hostApiUrl: string;
  /** Kubeconfig for use inside the workstation namespace (server https://198.19.255.1:443). */
  readonly kubeconfig: string;
  /** Kubeconfig for use on the host (server https://127.0.0.1:<port>). */
  readonly hostKubeconfig: string;
  readonly workstationNetns: string;
  readonly routerNetns: string;
  readonly startedAt: string;
  readonly readyAfterMs: number;
}

export function stateDirOf(name: string): string {
  return path.join(stateRoot, name);
}

export const files = {
  config: 'config.json',
  ready: 'ready.json',
  log: 'supervisor.log',
  pid: 'supervisor.pid',
  /** The watchdog that removes the run if the supervisor dies without cleaning up. */
  watchdogPid: 'watchdog.pid',
  kubeconfig: 'kubeconfig',
  hostKubeconfig: 'kubeconfig.host',
  failed: 'failed.txt',
  /** The supervisor's control socket (node add/remove). */
  control: 'control.sock',
  /** The cluster CA (certificate and key: `devcluster kubeconfig --user` signs client certificates). */
  caCert: 'ca.crt',
  caKey: 'ca.key',
  /** Static bearer tokens (token,user,uid,"groups"), read by the API server when it changes. */
  tokens: 'tokens.csv',
  /** Developer kubeconfigs written by `devcluster kubeconfig --user NAME`. */
  users: 'users',
} as const;

/**
 * Whether a process runs: a zombie (killed, not yet reaped by its parent, or orphaned under a PID 1 that
 * does not reap) counts as gone, although signal 0 still reaches it.
 */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
