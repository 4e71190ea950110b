// The cluster's nodes while it runs: each has an index N (bridge <prefix>-brN with 198.18.N.1 in the
// router namespace, spec.podCIDR 198.18.N.0/24), a Node object and a kubelet. `up` adds the first ones;
// `devcluster node add|remove` adds and removes more through the supervisor's control socket. A node
// deleted through the API (kubectl delete node) is torn down the same way.
import os from 'node:os';
import type { KubeObject } from './api/object.js';
import { field, str } from './api/object.js';
import type { Store } from './api/store.js';
import { nodeCidr, nodeGateway } from './net/topology.js';

/** Node indexes 1..254: 198.18.0.0/24 holds the cluster DNS address. */
export const maxNodeIndex = 254;

export interface NodeInfo {
  readonly name: string;
  readonly index: number;
  readonly podCIDR: string;
  /** The node's address (its bridge in the router namespace). */
  readonly address: string;
}

/** What a node needs from the network (bridges in the router namespace). */
export interface NodeNetwork {
  createBridge(index: number): Promise<void>;
  deleteBridge(index: number): Promise<void>;
}

/** The part of a kubelet the node manager drives. */
export interface NodeKubelet {
  start(): void;
  close(): Promise<void>;
  logFile(
    namespace: string,
    name: string,
    container: string | undefined,
    previous?: boolean,
  ): string | undefined;
}

export interface NodeManagerOptions {
  readonly store: Store;
  readonly network: NodeNetwork;
  readonly makeKubelet: (node: NodeInfo) => NodeKubelet;
  /** Deletes a pod gracefully (through the API core, so its kubelet stops it and finalizes). */
  readonly deletePod: (namespace: string, name: string, graceSeconds: number) => void;
  readonly log: (msg: string) => void;
  /** How long removing a node waits for its pods to stop before killing them. */
  readonly drainTimeoutMs?: number;
  /** Called after the set of nodes changed (e.g. to rewrite ready.json). */
  readonly onChange?: (nodes: readonly NodeInfo[]) => void;
}

export class NodeError extends Error {
  constructor(
    message: string,
    /** HTTP status for the control socket. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'NodeError';
  }
}

const subdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a node name is not acceptable, or undefined. */
export function validateNodeName(name: string): string | undefined {
  if (name.length === 0 || name.length > 253 || !subdomainRe.test(name)) {
    return `invalid node name "${name}": use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (a DNS subdomain, at most 253 characters)`;
  }
  return undefined;
}

/** The node index a podCIDR 198.18.N.0/24 stands for, if it is one. */
export function nodeIndexOfCidr(cidr: string): number | undefined {
  const m = /^198\.18\.(\d{1,3})\.0\/24$/.exec(cidr);
  const n = Number(m?.[1]);
  return m && n >= 1 && n <= maxNodeIndex ? n : undefined;
}

/** Indexes already spoken for: our nodes and any Node object whose podCIDR(s) use a node range. */
export function usedNodeIndexes(managed: Iterable<number>, nodeObjects: readonly KubeObject[]): Set<number> {
  const used = new Set(managed);
  for (const n of nodeObjects) {
    const cidrs = field(n, 'spec', 'podCIDRs');
    const all = [str(field(n, 'spec', 'podCIDR')), ...(Array.isArray(cidrs) ? cidrs.map(String) : [])];
    for (const c of all) {
      const i = c === undefined ? undefined : nodeIndexOfCidr(c);
      if (i !== undefined) used.add(i);
    }
  }
  return used;
}

/** The lowest free index, or undefined when all 254 are taken. */
export function lowestFreeIndex(used: ReadonlySet<number>): number | undefined {
  for (let i = 1; i <= maxNodeIndex; i++) if (!used.has(i)) return i;
  return undefined;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The Node object a kubelet registers: podCIDR(s), Ready, the bridge as InternalIP. */
export function nodeObject(name: string, index: number): KubeObject {
  const ts = timestamp();
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: ts,
    lastTransitionTime: ts,
    reason,
    message,
  });
  const memKi = `${Math.floor(os.totalmem() / 1024)}Ki`;
  const resources = {
    cpu: String(os.cpus().length),
    memory: memKi,
    pods: '110',
    'ephemeral-storage': '10Gi',
  };
  return {
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
      },
    },
    spec: { podCIDR: nodeCidr(index), podCIDRs: [nodeCidr(index)] },
    status: {
      conditions: [
        cond(
          'MemoryPressure',
          'False',
          'KubeletHasSufficientMemory',
          'kubelet has sufficient memory available',
        ),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: nodeGateway(index) },
        { type: 'Hostname', address: name },
      ],
      capacity: resources,
      allocatable: { ...resources },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: os.release(),
        osImage: 'devcluster (Linux network namespaces)',
        containerRuntimeVersion: 'devcluster://0.1.0',
        kubeletVersion: 'v1.33.0',
        kubeProxyVersion: 'v1.33.0',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    },
  };
}

interface Managed {
  readonly info: NodeInfo;
  kubelet?: NodeKubelet | undefined;
  /** Set once teardown started; later removals wait for it. */
  removing?: Promise<void>;
}

export class NodeManager {
  private readonly nodes = new Map<string, Managed>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly o: NodeManagerOptions) {
    // kubectl delete node: the kubelet and bridge go too (pods are then garbage-collected, as the
    // pod GC controller does for pods of a node that no longer exists).
    this.unsubscribe = o.store.subscribe((e) => {
      if (e.key !== 'nodes' || e.type !== 'DELETED' || this.closed) return;
      const m = this.nodes.get(e.object.metadata.name ?? '');
      if (m && !m.removing) void this.teardown(m).catch((err: unknown) => this.fail(m, err));
    });
  }

  list(): NodeInfo[] {
    return [...this.nodes.values()]
      .filter((m) => m.kubelet !== undefined)
      .map((m) => m.info)
      .sort((a, b) => a.index - b.index);
  }

  hasKubelet(name: string): boolean {
    return this.nodes.get(name)?.kubelet !== undefined;
  }

  logFile(
    namespace: string,
    name: string,
    container: string | undefined,
    previous = false,
  ): string | undefined {
    for (const m of this.nodes.values()) {
      const f = m.kubelet?.logFile(namespace, name, container, previous);
      if (f) return f;
    }
    return undefined;
  }

  /**
   * Adds a node: reserves a name and index (synchronously, so concurrent adds never collide), makes
   * its bridge, registers the Node object and starts its kubelet. On failure nothing is left behind.
   */
  async add(request: { name?: string; start?: boolean } = {}): Promise<NodeInfo> {
    if (this.closed) throw new NodeError('the cluster is shutting down', 503);
    const info = this.reserve(request.name);
    const m: Managed = { info };
    this.nodes.set(info.name, m);
    let bridge = false;
    try {
      await this.o.network.createBridge(info.index);
      bridge = true;
      if (this.closed) throw new NodeError('the cluster is shutting down', 503);
      this.o.store.create('nodes', nodeObject(info.name, info.index));
    } catch (err) {
      this.nodes.delete(info.name);
      if (bridge) await this.o.network.deleteBridge(info.index).catch(() => undefined);
      throw err;
    }
    m.kubelet = this.o.makeKubelet(info);
    if (request.start !== false) m.kubelet.start();
    this.o.log(`node ${info.name} added (${info.podCIDR})`);
    this.changed();
    return info;
  }

  /** Starts kubelets created with start: false (the first nodes, once the controllers run). */
  startAll(): void {
    for (const m of this.nodes.values()) m.kubelet?.start();
  }

  /** Removes a node: Node object, its pods (gracefully), kubelet and bridge. */
  async remove(name: string): Promise<NodeInfo> {
    const m = this.nodes.get(name);
    if (!m) {
      const known = this.list().map((n) => n.name);
      const hint = this.o.store.get('nodes', undefined, name)
        ? `; a Node "${name}" exists in the API but has no devcluster kubelet: delete it with kubectl delete node ${name}`
        : `; nodes: ${known.join(', ') || '(none)'}`;
      throw new NodeError(`node "${name}" not found${hint}`, 404);
    }
    await (m.removing ?? this.teardown(m));
    return m.info;
  }

  private reserve(requested: string | undefined): NodeInfo {
    const nodeObjects = this.o.store.list('nodes');
    const taken = (name: string) => this.nodes.has(name) || nodeObjects.some((n) => n.metadata.name === name);
    if (requested !== undefined) {
      const invalid = validateNodeName(requested);
      if (invalid) throw new NodeError(invalid, 400);
      if (taken(requested)) throw new NodeError(`node "${requested}" already exists`, 409);
    }
    const used = usedNodeIndexes(
      [...this.nodes.values()].map((m) => m.info.index),
      nodeObjects,
    );
    // Default names follow the index (node-N); skip indexes whose default name is taken by another Node.
    for (;;) {
      const index = lowestFreeIndex(used);
      if (index === undefined)
        throw new NodeError(
          `no free node address range: all ${maxNodeIndex} of 198.18.N.0/24 are in use`,
          409,
        );
      const name = requested ?? `node-${index}`;
      if (requested === undefined && taken(name)) {
        used.add(index);
        continue;
      }
      return { name, index, podCIDR: nodeCidr(index), address: nodeGateway(index) };
    }
  }

  private teardown(m: Managed): Promise<void> {
    // Marked before any step runs: deleting the Node object below notifies our own listener.
    m.removing ??= Promise.resolve().then(() => this.doTeardown(m));
    return m.removing;
  }

  private async doTeardown(m: Managed): Promise<void> {
    const { name, index } = m.info;
    const { store } = this.o;
    if (store.get('nodes', undefined, name)) store.delete('nodes', undefined, name);
    // Drain: the kubelet stops each pod within its grace period; controllers recreate theirs elsewhere.
    const podsOnNode = () => store.list('pods').filter((p) => str(field(p, 'spec', 'nodeName')) === name);
    for (const p of podsOnNode()) {
      if (p.metadata.deletionTimestamp) continue;
      const grace = Number(field(p, 'spec', 'terminationGracePeriodSeconds') ?? 30);
      try {
        this.o.deletePod(p.metadata.namespace ?? 'default', p.metadata.name ?? '', Math.min(grace, 5));
      } catch {
        /* already gone */
      }
    }
    const deadline = Date.now() + (this.o.drainTimeoutMs ?? 10_000);
    while (podsOnNode().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await m.kubelet?.close();
    m.kubelet = undefined;
    for (const p of podsOnNode()) {
      try {
        store.delete('pods', p.metadata.namespace, p.metadata.name ?? '');
      } catch {
        /* already gone */
      }
    }
    await this.o.network.deleteBridge(index);
    this.nodes.delete(name);
    this.o.log(`node ${name} removed (${m.info.podCIDR})`);
    this.changed();
  }

  private fail(m: Managed, err: unknown): void {
    this.o.log(`removing node ${m.info.name}: ${(err as Error).message}`);
  }

  private changed(): void {
    try {
      this.o.onChange?.(this.list());
    } catch (err) {
      this.o.log(`node change listener: ${(err as Error).message}`);
    }
  }

  /** Cluster shutdown: every kubelet stops its pods (the namespaces go with the run). */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    await Promise.all([...this.nodes.values()].map((m) => m.kubelet?.close()));
  }
}
