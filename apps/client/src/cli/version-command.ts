// `telepresence version`: this client's version; with a running daemon also the daemon's and, when
// connected, the traffic-manager's, warning when one of them is a version this client cannot work with.
import type { ServiceError } from '@grpc/grpc-js';
import type { daemon } from '@telepresence/rpc';
import type { DaemonPaths } from '../daemon/paths.js';
import { CLIENT_VERSION, compatibleVersion } from '../version.js';
import { daemonStatus, isDaemonRunning, openDaemonClient } from './daemon-client.js';

export interface VersionReport {
  readonly lines: string[];
  readonly warnings: string[];
}

export function describeVersions(daemonVersion: string, managerVersion: string): VersionReport {
  const lines = [`Client: v${CLIENT_VERSION}`];
  const warnings: string[] = [];
  const check = (what: string, v: string, fix: string): void => {
    lines.push(`${what}: ${v === '' ? '(unknown)' : `v${v.replace(/^v/, '')}`}`);
    if (!compatibleVersion(v))
      warnings.push(
        `the ${what.toLowerCase()} is v${v.replace(/^v/, '')}, this client v${CLIENT_VERSION} cannot work with it; ${fix}`,
      );
  };
  if (daemonVersion !== '')
    check(
      'Root daemon',
      daemonVersion,
      'run telepresence quit, then connect again to start a matching daemon',
    );
  if (managerVersion !== '')
    check('Traffic manager', managerVersion, 'install a client or traffic-manager of matching versions');
  return { lines, warnings };
}

export async function versionReport(paths: DaemonPaths): Promise<VersionReport> {
  let running: boolean;
  try {
    running = await isDaemonRunning(paths);
  } catch (e) {
    // Another user's daemon: this client's version is still worth printing.
    const report = describeVersions('', '');
    return { lines: report.lines, warnings: [(e as Error).message] };
  }
  if (!running) return describeVersions('', '');
  const client = openDaemonClient(paths);
  try {
    const info = await new Promise<daemon.VersionResponse>((resolve, reject) =>
      client.version({}, (e: ServiceError | null, res: daemon.VersionResponse) =>
        e ? reject(e) : resolve(res),
      ),
    );
    const status = await daemonStatus(client);
    return describeVersions(info.info?.version ?? '', status.connected ? status.managerVersion : '');
  } finally {
    client.close();
  }
}
