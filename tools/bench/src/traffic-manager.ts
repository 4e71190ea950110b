// The traffic-manager on a devcluster, as the client and intercept suites need it: the chart rendered by
// helm into the `ambassador` namespace, RBAC objects included (devcluster enforces them).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { applyManifests, type DevCluster } from '@telepresence/devcluster';

/** Installs the chart from `repo`; returns the cluster's kubeconfig and a CoreV1 client for it. */
export async function installTrafficManager(
  cluster: DevCluster,
  repo: string,
): Promise<{ kc: KubeConfig; core: CoreV1Api }> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.hostKubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'ambassador' } } });
  const rendered = execFileSync(
    path.join(repo, 'tools/bin/helm'),
    ['template', 'traffic-manager', path.join(repo, 'charts/telepresence'), '--namespace', 'ambassador'],
    { encoding: 'utf8' },
  );
  await applyManifests(cluster.hostKubeconfig, rendered, () => undefined);
  return { kc, core };
}
