import { ApiCore } from './core.js';
import { resourceTypes } from './resources.js';
import { ServiceIpAllocator } from './service-ips.js';
import { Store } from './store.js';

const t = (plural: string) => resourceTypes.find((r) => r.plural === plural)!;

async function setup() {
  const store = new Store();
  const core = new ApiCore({
    store,
    serviceIps: new ServiceIpAllocator('198.19.0.0/20'),
    hasKubelet: () => true,
  });
  await core.create(t('namespaces'), undefined, { metadata: { name: 'default' } });
  return { store, core };
}

describe('ApiCore', () => {
  it('defaults pods and adds the service-account volume', async () => {
    const { core } = await setup();
    const pod = await core.create(t('pods'), 'default', {
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'echo' }] },
    });
    const spec = pod['spec'] as {
      restartPolicy: string;
      serviceAccountName: string;
      volumes: { name: string }[];
      containers: { volumeMounts: { mountPath: string }[] }[];
    };
    expect(spec.restartPolicy).toBe('Always');
    expect(spec.serviceAccountName).toBe('default');
    expect(spec.volumes[0]?.name).toMatch(/^kube-api-access-/);
    expect(spec.containers[0]?.volumeMounts[0]?.mountPath).toBe(
      '/var/run/secrets/kubernetes.io/serviceaccount',
    );
    expect(pod['status']).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
  });

  it('rejects objects in missing namespaces and invalid pods', async () => {
    const { core } = await setup();
    await expect(core.create(t('configmaps'), 'nope', { metadata: { name: 'x' } })).rejects.toThrow(
      'namespaces "nope" not found',
    );
    await expect(
      core.create(t('pods'), 'default', { metadata: { name: 'p' }, spec: { containers: [] } }),
    ).rejects.toThrow('Pod "p" is invalid: spec.containers: Required value');
  });

  it('allocates ClusterIPs, keeps them across updates and releases them on delete', async () => {
    const { core } = await setup();
    const svc = await core.create(t('services'), 'default', {
      metadata: { name: 's' },
      spec: { ports: [{ port: 80 }] },
    });
    const ip = (svc['spec'] as { clusterIP: string }).clusterIP;
    expect(ip).toMatch(/^198\.19\./);
    const updated = await core.patch(t('services'), 'default', 's', 'merge', {
      spec: { clusterIP: null, selector: { a: 'b' } },
    });
    expect((updated['spec'] as { clusterIP: string }).clusterIP).toBe(ip);
    await expect(
      core.patch(t('services'), 'default', 's', 'merge', { spec: { clusterIP: '198.19.0.99' } }),
    ).rejects.toThrow(/may not change once set/);
    core.delete(t('services'), 'default', 's');
    const again = await core.create(t('services'), 'default', {
      metadata: { name: 's2' },
      spec: { clusterIP: ip, ports: [{ port: 80 }] },
    });
    expect((again['spec'] as { clusterIP: string }).clusterIP).toBe(ip);
  });

  it('deletes scheduled pods gracefully (the kubelet finishes) and others at once', async () => {
    const { core, store } = await setup();
    await core.create(t('pods'), 'default', {
      metadata: { name: 'a' },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'echo' }] },
    });
    const deleting = core.delete(t('pods'), 'default', 'a');
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    expect(deleting.metadata.deletionGracePeriodSeconds).toBe(30);
    expect(store.get('pods', 'default', 'a')).toBeDefined();
    core.delete(t('pods'), 'default', 'a', { gracePeriodSeconds: 0 });
    expect(store.get('pods', 'default', 'a')).toBeUndefined();
    await core.create(t('pods'), 'default', {
      metadata: { name: 'b' },
      spec: { containers: [{ name: 'c', image: 'echo' }] },
    });
    core.delete(t('pods'), 'default', 'b');
    expect(store.get('pods', 'default', 'b')).toBeUndefined();
  });

  it('deletes a namespace after its contents', async () => {
    const { core, store } = await setup();
    await core.create(t('namespaces'), undefined, { metadata: { name: 'gone' } });
    expect(store.get('serviceaccounts', 'gone', 'default')).toBeDefined();
    await core.create(t('configmaps'), 'gone', { metadata: { name: 'c' } });
    const ns = core.delete(t('namespaces'), undefined, 'gone');
    expect(ns['status']).toEqual({ phase: 'Terminating' });
    await expect(core.create(t('configmaps'), 'gone', { metadata: { name: 'd' } })).rejects.toThrow(
      /being terminated/,
    );
    await new Promise((r) => setImmediate(r));
    expect(store.get('namespaces', undefined, 'gone')).toBeUndefined();
    expect(store.list('configmaps', 'gone')).toEqual([]);
  });
});
