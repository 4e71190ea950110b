// kube-proxy's job in nftables, in the router namespace: each Service port's ClusterIP is DNATed to a
// random ready endpoint; service addresses without endpoints are rejected; the workstation link is cut
// off from the cluster network. The whole table is replaced atomically on every change.
import { field, str, type KubeObject } from '../api/object.js';
import type { Store } from '../api/store.js';
import { Reconciler } from '../controllers/reconciler.js';
import { nft } from './exec.js';
import { serviceCidr, type Names } from './topology.js';

interface Target {
  ip: string;
  port: number;
}

/** Marks a pod reaching itself through its Service (hairpin) for masquerade, then DNATs. */
function endpointRules(t: Target, proto: string): string {
  return `    ip saddr ${t.ip} meta mark set ${hairpinMark}\n    meta l4proto ${proto} dnat to ${t.ip}:${t.port}`;
}

// kube-proxy's KUBE-MARK-MASQ bit: a hairpinned connection leaves with the node's (bridge) address as
// source, so the pod's answer goes back through the router and its conntrack entry.
const hairpinMark = '0x4000';

export function renderProxyRules(
  table: string,
  workstationLink: string,
  services: KubeObject[],
  endpoints: KubeObject[],
): string {
  const rules: string[] = [];
  const chains: string[] = [];
  let n = 0;
  for (const svc of services) {
    const ip = str(field(svc, 'spec', 'clusterIP'));
    if (!ip || ip === 'None') continue;
    const ep = endpoints.find(
      (e) => e.metadata.namespace === svc.metadata.namespace && e.metadata.name === svc.metadata.name,
    );
    const ports = field(svc, 'spec', 'ports');
    for (const p of Array.isArray(ports) ? ports : []) {
      const proto = String(field(p, 'protocol') ?? 'TCP').toLowerCase();
      if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') continue;
      const portName = str(field(p, 'name')) ?? '';
      const targets: Target[] = [];
      const subsets = ep?.['subsets'];
      for (const s of Array.isArray(subsets) ? subsets : []) {
        const sp = (Array.isArray(field(s, 'ports')) ? (field(s, 'ports') as unknown[]) : []).find(
          (x) =>
            (str(field(x, 'name')) ?? '') === portName &&
            String(field(x, 'protocol') ?? 'TCP').toLowerCase() === proto,
        );
        if (!sp) continue;
        const addrs = field(s, 'addresses');
        for (const a of Array.isArray(addrs) ? addrs : []) {
          const aip = str(field(a, 'ip'));
          if (aip) targets.push({ ip: aip, port: Number(field(sp, 'port')) });
        }
      }
      if (targets.length === 0) continue;
      const chain = `svc${n++}`;
      rules.push(`    ip daddr ${ip} ${proto} dport ${Number(field(p, 'port'))} jump ${chain}`);
      if (targets.length === 1) {
        const t = targets[0] as Target;
        chains.push(`  chain ${chain} {\n${endpointRules(t, proto)}\n  }`);
      } else {
        const vmap = targets.map((_, i) => `${i} : jump ${chain}_${i}`).join(', ');
        chains.push(`  chain ${chain} {\n    numgen random mod ${targets.length} vmap { ${vmap} }\n  }`);
        targets.forEach((t, i) => chains.push(`  chain ${chain}_${i} {\n${endpointRules(t, proto)}\n  }`));
      }
    }
  }
  return [
    `add table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    `  chain services {`,
    ...rules,
    `  }`,
    ...chains,
    `  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    jump services\n  }`,
    `  chain output {\n    type nat hook output priority -100; policy accept;\n    jump services\n  }`,
    `  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    meta mark ${hairpinMark} masquerade\n  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname "${workstationLink}" drop`,
    `    oifname "${workstationLink}" drop`,
    `    ip daddr ${serviceCidr} meta l4proto tcp reject with tcp reset`,
    `    ip daddr ${serviceCidr} reject`,
    `  }`,
    `  chain out {`,
    `    type filter hook output priority filter; policy accept;`,
    `    ip daddr ${serviceCidr} meta l4proto tcp reject with tcp reset`,
    `    ip daddr ${serviceCidr} reject`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Keeps the nft table in the current (router) namespace in sync with services and endpoints. */
export function startKubeProxy(store: Store, names: Names, log: (msg: string) => void): Reconciler {
  let last = '';
  return new Reconciler(
    store,
    'kube-proxy',
    (e) => e.key === 'services' || e.key === 'endpoints',
    async () => {
      const script = renderProxyRules(
        names.nftTable,
        names.workstationLink,
        store.list('services'),
        store.list('endpoints'),
      );
      if (script === last) return;
      await nft(script);
      last = script;
    },
    log,
  );
}
