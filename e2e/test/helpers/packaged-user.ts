// The packaged client as a non-root user meets it: `npm run package` and `dpkg -i`, users created for the
// test (and removed), a sudoers rule, telepresence run as such a user in the devcluster workstation with a
// login-like environment, and a kubeconfig in the user's home whose credential comes from an exec plugin.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DevCluster } from '@telepresence/devcluster';
import { execAsync, repo, type Exec } from './tp-cluster.js';

export const deb = path.join(repo, 'dist/package/telepresence_0.1.0_amd64.deb');

/** Fails with the command's output unless it exited 0. */
export const must = async (p: Promise<Exec>, what: string): Promise<Exec> => {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stdout}${r.stderr}`);
  return r;
};

/** `npm run package` (from the built workspace), then `dpkg -i` of the .deb. */
export async function buildAndInstallPackage(): Promise<void> {
  await must(execAsync('node', [path.join(repo, 'tools/package/build.mjs')], 600_000), 'npm run package');
  await must(execAsync('dpkg', ['-i', deb], 120_000), 'dpkg -i');
}

export const removePackage = (): Promise<Exec> => execAsync('dpkg', ['-r', 'telepresence'], 120_000);

/** Creates the users (with a home); `sudoers` lines go to `sudoersFile`. */
export async function addUsers(
  names: readonly string[],
  sudoersFile: string,
  sudoers: string,
): Promise<void> {
  for (const name of names) await must(execAsync('useradd', ['-m', '-s', '/bin/sh', name]), 'useradd');
  writeFileSync(sudoersFile, sudoers, { mode: 0o440 });
}

export async function removeUsers(names: readonly string[], sudoersFile: string): Promise<void> {
  for (const name of names) await execAsync('userdel', ['-r', name]);
  rmSync(sudoersFile, { force: true });
}

export const uidOf = async (name: string): Promise<string> =>
  (await must(execAsync('id', ['-u', name]), 'id')).stdout.trim();

/** Runs ARGS as `name` in the workstation, with a login-like environment of that user. */
export function runAsUser(cluster: () => DevCluster, runDir: () => string) {
  return (name: string, args: readonly string[], timeoutMs = 180_000): Promise<Exec> =>
    execAsync(
      'ip',
      [
        'netns',
        'exec',
        cluster().workstationNetns,
        'runuser',
        '-u',
        name,
        '--',
        'env',
        '-i',
        `HOME=/home/${name}`,
        `USER=${name}`,
        'PATH=/usr/bin:/bin',
        `TELEPRESENCE_RUN_DIR=${runDir()}`,
        ...args,
      ],
      timeoutMs,
    );
}

/** A kubeconfig whose user gets its credential from the exec plugin `command`. */
export function execKubeconfig(o: {
  server: string;
  caData: string;
  user: string;
  command: string;
  namespace?: string;
}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dev', cluster: { server: o.server, 'certificate-authority-data': o.caData } }],
    users: [
      {
        name: o.user,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: o.command,
            interactiveMode: 'Never',
          },
        },
      },
    ],
    contexts: [
      { name: 'dev', context: { cluster: 'dev', user: o.user, namespace: o.namespace ?? 'default' } },
    ],
    'current-context': 'dev',
  });
}

/** Writes `kubeconfig` as the user's ~/.kube/config (0600) and gives their home back to them. */
export async function installUserKubeconfig(name: string, kubeconfig: string): Promise<void> {
  const home = `/home/${name}`;
  await must(execAsync('install', ['-d', '-o', name, '-m', '0700', path.join(home, '.kube')]), 'mkdir');
  writeFileSync(path.join(home, '.kube/config'), kubeconfig, { mode: 0o600 });
  await must(execAsync('chown', ['-R', `${name}:`, home]), 'chown');
}
