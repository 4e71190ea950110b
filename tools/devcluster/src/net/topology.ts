// The cluster's network on Linux network namespaces. Address plan (DESIGN.md section 5):
//   pods          198.18.0.0/16, node N has 198.18.N.0/24, its bridge (the node's address) 198.18.N.1
//   cluster DNS   198.18.0.10 (on the router's loopback, reached through the kube-dns ClusterIP)
//   services      198.19.0.0/20 (kubernetes 198.19.0.1, kube-dns 198.19.0.10)
//   workstation   198.19.255.0/24: API server and upstream resolver 198.19.255.1, workstation 198.19.255.2
// Pods have /32 addresses with the node bridge as gateway, so all pod traffic (also between pods on
// one node) is routed by the router namespace, where nftables implements Services.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { ipBatch, run } from './exec.js';

export const podCidr = '198.18.0.0/16';
export const serviceCidr = '198.19.0.0/20';
export const kubernetesServiceIp = '198.19.0.1';
export const kubeDnsServiceIp = '198.19.0.10';
export const clusterDnsListenIp = '198.18.0.10';
export const apiServerIp = '198.19.255.1';
export const upstreamDnsIp = '198.19.255.1';
export const workstationIp = '198.19.255.2';
export const clusterDomain = 'cluster.local';

export function nodeCidr(n: number): string {
  return `198.18.${n}.0/24`;
}

export function nodeGateway(n: number): string {
  return `198.18.${n}.1`;
}

/** Every name a run creates, derived from its prefix. */
export class Names {
  constructor(readonly prefix: string) {}
  get router(): string {
    return `${this.prefix}-router`;
  }
  get workstation(): string {
    return `${this.prefix}-ws`;
  }
  pod(id: number): string {
    return `${this.prefix}-pod${id}`;
  }
  bridge(node: number): string {
    return `${this.prefix}-br${node}`;
  }
  get workstationLink(): string {
    return `${this.prefix}-ws`;
  }
  podLink(id: number): string {
    return `${this.prefix}-p${id}`;
  }
  get nftTable(): string {
    return `${this.prefix}_proxy`;
  }
}

/** Validates a run name so every derived interface name fits Linux's 15 characters. */
export function validateName(name: string): string | undefined {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(name)) {
    return `invalid cluster name "${name}": use 1-6 lower-case letters or digits, starting with a letter (it prefixes interface names, which Linux limits to 15 characters)`;
  }
  return undefined;
}

async function sysctl(ns: string, entries: Record<string, string>): Promise<void> {
  const script = Object.entries(entries)
    .map(([k, v]) => `echo ${v} > /proc/sys/${k.replace(/\./g, '/')}`)
    .join('\n');
  await run('ip', ['netns', 'exec', ns, 'sh', '-c', script]);
}

export async function createRouterNamespace(names: Names): Promise<void> {
  await run('ip', ['netns', 'add', names.router]);
  // The service range needs a route for locally generated connections (webhook calls, probes) to reach
  // nftables' output DNAT; anything not DNATed is rejected there.
  await ipBatch(
    ['link set lo up', `addr add ${clusterDnsListenIp}/32 dev lo`, `route add ${serviceCidr} dev lo`],
    names.router,
  );
  await sysctl(names.router, {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.all.send_redirects': '0',
    'net.ipv4.conf.default.send_redirects': '0',
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
  });
}

export async function createNodeBridge(names: Names, node: number): Promise<void> {
  const br = names.bridge(node);
  // A bridge takes the lowest MAC of its ports unless one is set: removing a pod whose veth had it would
  // change the gateway's MAC under every other pod, which then sends to the old one until its neighbour
  // entry goes stale (up to 45 s without connectivity, seen as a new pod "unreachable").
  const mac = `02:dc:00:00:${(node >> 8).toString(16).padStart(2, '0')}:${(node & 0xff).toString(16).padStart(2, '0')}`;
  await ipBatch(
    [
      `link add ${br} type bridge`,
      `link set ${br} address ${mac}`,
      `addr add ${nodeGateway(node)}/24 dev ${br}`,
      `link set ${br} up`,
    ],
    names.router,
  );
}

export async function createWorkstation(names: Names, resolvConf: string): Promise<void> {
  const ws = names.workstation;
  await run('ip', ['netns', 'add', ws]);
  await mkdir(`/etc/netns/${ws}`, { recursive: true });
  await writeFile(`/etc/netns/${ws}/resolv.conf`, resolvConf);
  await ipBatch(
    [
      `link add ${names.workstationLink} type veth peer name eth0 netns ${ws}`,
      `addr add ${apiServerIp}/24 dev ${names.workstationLink}`,
      `link set ${names.workstationLink} up`,
    ],
    names.router,
  );
  // Only the link's own subnet: no route to pod or service addresses.
  await ipBatch(['link set lo up', `addr add ${workstationIp}/24 dev eth0`], ws);
  // No duplicate address detection on eth0: its IPv6 link-local address (and local route) is there when
  // `up` returns, not a second later, so the workstation's routes do not change under a test's feet.
  await sysctl(ws, { 'net.ipv6.conf.eth0.accept_dad': '0' });
  await ipBatch(['link set eth0 up'], ws);
}

export interface PodNetwork {
  readonly netns: string;
  readonly ip: string;
}

/** A pod's namespace: eth0 with a /32 address, the node bridge as its only gateway. */
export async function createPodNetwork(
  names: Names,
  id: number,
  node: number,
  ip: string,
  files: { resolvConf: string; hosts: string },
): Promise<PodNetwork> {
  const ns = names.pod(id);
  const link = names.podLink(id);
  await run('ip', ['netns', 'add', ns]);
  await mkdir(`/etc/netns/${ns}`, { recursive: true });
  await writeFile(`/etc/netns/${ns}/resolv.conf`, files.resolvConf);
  await writeFile(`/etc/netns/${ns}/hosts`, files.hosts);
  await ipBatch(
    [
      `link add ${link} type veth peer name eth0 netns ${ns}`,
      `link set ${link} master ${names.bridge(node)}`,
      // Hairpin: a pod reaching itself through its Service's ClusterIP (DNATed back to it while the
      // bridge handles the frame, as br_netfilter does) must be sent back out the port it came in on.
      `link set ${link} type bridge_slave hairpin on`,
      `link set ${link} up`,
    ],
    names.router,
  );
  const gw = nodeGateway(node);
  await ipBatch(
    [
      'link set lo up',
      `addr add ${ip}/32 dev eth0`,
      'link set eth0 up',
      `route add ${gw} dev eth0 scope link`,
      `route add default via ${gw} dev eth0`,
    ],
    ns,
  );
  // The address may have belonged to a pod that just went away: drop the router's neighbour entry for
  // it, or traffic goes to the old MAC until the entry goes stale (20-45 s).
  await run('ip', ['-n', names.router, 'neigh', 'flush', 'to', ip], { allowFailure: true });
  return { netns: ns, ip };
}

export async function deletePodNetwork(names: Names, id: number): Promise<void> {
  const ns = names.pod(id);
  await killNamespaceProcesses(ns);
  await run('ip', ['netns', 'del', ns], { allowFailure: true });
  await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
}

export async function killNamespaceProcesses(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns], { allowFailure: true });
  for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Namespaces of a run (by prefix), e.g. after a crash. */
export async function listRunNamespaces(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { allowFailure: true });
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/**
 * Removes everything a run created: processes in its namespaces (the supervisor too), the namespaces
 * (and with them every link, bridge and nft table inside), and their /etc/netns files.
 */
export async function removeRun(prefix: string): Promise<string[]> {
  const found = await listRunNamespaces(prefix);
  for (const ns of found) await killNamespaceProcesses(ns);
  for (const ns of found) {
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  return found;
}

export async function deleteNodeBridge(names: Names, node: number): Promise<void> {
  await run('ip', ['-n', names.router, 'link', 'del', names.bridge(node)], { allowFailure: true });
}
