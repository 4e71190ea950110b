import { Store } from './api/store.js';
import {
  lowestFreeIndex,
  NodeError,
  NodeManager,
  nodeIndexOfCidr,
  nodeObject,
  usedNodeIndexes,
  validateNodeName,
  type NodeInfo,
  type NodeKubelet,
} from './nodes.js';

interface Fake {
  store: Store;
  nodes: NodeManager;
  bridges: Set<number>;
  kubelets: Map<string, { started: boolean; closed: boolean }>;
  deleted: string[];
  changes: number[];
}

function setup(options: { failBridge?: number; kubeletStopsPods?: boolean } = {}): Fake {
  const store = new Store();
  const bridges = new Set<number>();
  const kubelets = new Map<string, { started: boolean; closed: boolean }>();
  const deleted: string[] = [];
  const changes: number[] = [];
  const nodes = new NodeManager({
    store,
    network: {
      createBridge: async (n) => {
        await Promise.resolve();
        if (n === options.failBridge) throw new Error(`bridge ${n} failed`);
        bridges.add(n);
      },
      deleteBridge: async (n) => {
        await Promise.resolve();
        bridges.delete(n);
      },
    },
    makeKubelet: (node: NodeInfo): NodeKubelet => {
      const k = { started: false, closed: false };
      kubelets.set(node.name, k);
      return {
        start: () => (k.started = true),
        close: async () => {
          k.closed = true;
          await Promise.resolve();
        },
        logFile: () => undefined,
      };
    },
    deletePod: (ns, name) => {
      deleted.push(`${ns}/${name}`);
      // A kubelet stops the pod and finalizes it; without one it stays until the node's kubelet closes.
      if (options.kubeletStopsPods !== false) store.delete('pods', ns, name);
    },
    log: () => undefined,
    drainTimeoutMs: 100,
    onChange: (list) => changes.push(list.length),
  });
  return { store, nodes, bridges, kubelets, deleted, changes };
}

const pod = (name: string, nodeName: string) => ({
  metadata: { name, namespace: 'default' },
  spec: { nodeName, containers: [{ name: 'c', image: 'echo' }] },
});

describe('node address plan', () => {
  it('maps 198.18.N.0/24 to N for 1..254 only', () => {
    expect(nodeIndexOfCidr('198.18.3.0/24')).toBe(3);
    expect(nodeIndexOfCidr('198.18.254.0/24')).toBe(254);
    expect(nodeIndexOfCidr('198.18.0.0/24')).toBeUndefined();
    expect(nodeIndexOfCidr('198.18.255.0/24')).toBeUndefined();
    expect(nodeIndexOfCidr('198.18.3.0/25')).toBeUndefined();
    expect(nodeIndexOfCidr('198.19.3.0/24')).toBeUndefined();
  });

  it('counts indexes of managed nodes and of Node objects created through the API', () => {
    const virtual = { metadata: { name: 'node-9' }, spec: { podCIDRs: ['198.18.9.0/24', '2001:db8::/64'] } };
    const other = { metadata: { name: 'x' }, spec: { podCIDR: '198.18.7.0/24' } };
    expect([...usedNodeIndexes([1, 2], [virtual, other])].sort((a, b) => a - b)).toEqual([1, 2, 7, 9]);
    expect(lowestFreeIndex(new Set([1, 2, 4]))).toBe(3);
    expect(lowestFreeIndex(new Set(Array.from({ length: 254 }, (_, i) => i + 1)))).toBeUndefined();
  });

  it('validates node names as DNS subdomains', () => {
    expect(validateNodeName('node-3')).toBeUndefined();
    expect(validateNodeName('gpu.pool-a')).toBeUndefined();
    expect(validateNodeName('Node_3')).toMatch(/invalid node name "Node_3"/);
    expect(validateNodeName('')).toMatch(/invalid node name/);
    expect(validateNodeName('-a')).toMatch(/invalid node name/);
  });

  it('renders a Ready Node with podCIDR(s) and the bridge as InternalIP', () => {
    const n = nodeObject('node-3', 3);
    expect(n['spec']).toEqual({ podCIDR: '198.18.3.0/24', podCIDRs: ['198.18.3.0/24'] });
    const status = n['status'] as { conditions: { type: string; status: string }[]; addresses: unknown[] };
    expect(status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status.addresses).toContainEqual({ type: 'InternalIP', address: '198.18.3.1' });
    expect(n.metadata.labels?.['kubernetes.io/hostname']).toBe('node-3');
  });
});

describe('NodeManager', () => {
  it('adds nodes with the lowest free index: bridge, Node object, started kubelet', async () => {
    const f = setup();
    const [a, b] = await Promise.all([f.nodes.add(), f.nodes.add()]);
    expect([a?.name, b?.name]).toEqual(['node-1', 'node-2']);
    const c = await f.nodes.add();
    expect(c).toEqual({ name: 'node-3', index: 3, podCIDR: '198.18.3.0/24', address: '198.18.3.1' });
    expect([...f.bridges]).toEqual([1, 2, 3]);
    expect(f.store.get('nodes', undefined, 'node-3')?.['spec']).toEqual({
      podCIDR: '198.18.3.0/24',
      podCIDRs: ['198.18.3.0/24'],
    });
    expect(f.kubelets.get('node-3')?.started).toBe(true);
    expect(f.nodes.hasKubelet('node-3')).toBe(true);
    expect(f.changes).toEqual([1, 2, 3]);
  });

  it('takes a given name, and skips ranges and names used by Node objects made through the API', async () => {
    const f = setup();
    f.store.create('nodes', { metadata: { name: 'node-1' }, spec: { podCIDR: '198.18.9.0/24' } });
    f.store.create('nodes', { metadata: { name: 'x' }, spec: { podCIDR: '198.18.2.0/24' } });
    expect((await f.nodes.add()).name).toBe('node-3'); // 1: name taken, 2: range taken
    expect(await f.nodes.add({ name: 'gpu' })).toMatchObject({ name: 'gpu', index: 1 });
    await expect(f.nodes.add({ name: 'gpu' })).rejects.toThrow('node "gpu" already exists');
    await expect(f.nodes.add({ name: 'x' })).rejects.toThrow('node "x" already exists');
    await expect(f.nodes.add({ name: 'Bad!' })).rejects.toMatchObject({ status: 400 });
  });

  it('leaves nothing behind when the bridge cannot be made', async () => {
    const f = setup({ failBridge: 1 });
    await expect(f.nodes.add()).rejects.toThrow('bridge 1 failed');
    expect(f.nodes.list()).toEqual([]);
    expect(f.store.list('nodes')).toEqual([]);
    expect(f.bridges.size).toBe(0);
    expect(f.kubelets.size).toBe(0);
  });

  it('removes a node: Node object, its pods (drained), kubelet and bridge; other pods stay', async () => {
    const f = setup();
    await f.nodes.add();
    await f.nodes.add();
    f.store.create('pods', pod('a', 'node-2'));
    f.store.create('pods', pod('b', 'node-1'));
    expect(await f.nodes.remove('node-2')).toMatchObject({ name: 'node-2', index: 2 });
    expect(f.deleted).toEqual(['default/a']);
    expect(f.store.get('nodes', undefined, 'node-2')).toBeUndefined();
    expect(f.store.list('pods').map((p) => p.metadata.name)).toEqual(['b']);
    expect(f.kubelets.get('node-2')?.closed).toBe(true);
    expect(f.nodes.hasKubelet('node-2')).toBe(false);
    expect([...f.bridges]).toEqual([1]);
    expect(f.changes).toEqual([1, 2, 1]);
    // The freed range is used again.
    expect((await f.nodes.add()).index).toBe(2);
  });

  it('removes pods a dead kubelet did not finish once the drain times out', async () => {
    const f = setup({ kubeletStopsPods: false });
    await f.nodes.add();
    f.store.create('pods', pod('a', 'node-1'));
    await f.nodes.remove('node-1');
    expect(f.store.list('pods')).toEqual([]);
  });

  it('tears a node down when its Node object is deleted through the API', async () => {
    const f = setup();
    await f.nodes.add();
    f.store.delete('nodes', undefined, 'node-1');
    for (let i = 0; i < 50 && f.bridges.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(f.bridges.size).toBe(0);
    expect(f.nodes.list()).toEqual([]);
  });

  it('explains an unknown node, and one that exists only in the API', async () => {
    const f = setup();
    await f.nodes.add();
    await expect(f.nodes.remove('nope')).rejects.toThrow('node "nope" not found; nodes: node-1');
    f.store.create('nodes', { metadata: { name: 'virtual' } });
    const err = await f.nodes.remove('virtual').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).message).toMatch(
      /has no devcluster kubelet: delete it with kubectl delete node/,
    );
  });

  it('closes every kubelet on shutdown and refuses new nodes', async () => {
    const f = setup();
    await f.nodes.add();
    await f.nodes.close();
    expect(f.kubelets.get('node-1')?.closed).toBe(true);
    await expect(f.nodes.add()).rejects.toThrow('shutting down');
  });
});
