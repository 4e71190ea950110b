// The cluster DNS (kube-dns/CoreDNS equivalent) answering from the API state: services
// (<svc>.<ns>.svc.<domain>, ClusterIP or, for headless services, ready pod IPs), SRV for named ports
// (_<port>._<proto>.<svc>.<ns>.svc.<domain>), pods (a-b-c-d.<ns>.pod.<domain>) and PTR; other names go
// to a forwarder.
import dnsPacket, { type Answer, type DecodedPacket, type Question } from 'dns-packet';
import { field, isRecord, str, type KubeObject } from '../api/object.js';
import type { Store } from '../api/store.js';

export type Forwarder = (query: Buffer) => Promise<Buffer | undefined>;

const ttl = 5;

export class ClusterDns {
  constructor(
    private readonly store: Store,
    private readonly domain: string,
    private readonly forward: Forwarder,
  ) {}

  async handle(raw: Buffer): Promise<Buffer | undefined> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return undefined;
    }
    const q = query.questions?.[0];
    if (!q) return undefined;
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const local = name === this.domain || name.endsWith(`.${this.domain}`) || name.endsWith('.in-addr.arpa');
    if (!local) {
      const resp = await this.forward(raw);
      return resp ?? this.reply(query, q, 'SERVFAIL', []);
    }
    const found = this.lookup(name, q.type);
    if (found === undefined) {
      if (name.endsWith('.in-addr.arpa') && !this.ptrIsOurs(name)) {
        const resp = await this.forward(raw);
        return resp ?? this.reply(query, q, 'NXDOMAIN', []);
      }
      return this.reply(query, q, 'NXDOMAIN', []);
    }
    return this.reply(query, q, 'NOERROR', found);
  }

  private reply(
    query: DecodedPacket,
    q: Question,
    rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL',
    answers: Answer[],
  ): Buffer {
    const soa: Answer = {
      type: 'SOA',
      name: this.domain,
      ttl,
      data: {
        mname: `ns.dns.${this.domain}`,
        rname: `hostmaster.${this.domain}`,
        serial: 1,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: ttl,
      },
    };
    return dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags:
        dnsPacket.AUTHORITATIVE_ANSWER |
        ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
        dnsPacket.RECURSION_AVAILABLE |
        rcodeFlag(rcode),
      questions: [q],
      answers,
      authorities: answers.length === 0 ? [soa] : [],
    });
  }

  private ptrIsOurs(name: string): boolean {
    const ip = name
      .replace(/\.in-addr\.arpa$/, '')
      .split('.')
      .reverse()
      .join('.');
    return ip.startsWith('198.18.') || ip.startsWith('198.19.');
  }

  /** Answers for a name, [] for "exists but no data of this type", undefined for NXDOMAIN. */
  lookup(name: string, type: string): Answer[] | undefined {
    if (name.endsWith('.in-addr.arpa')) return this.ptr(name, type);
    const labels = name.slice(0, -(this.domain.length + 1)).split('.');
    if (name === this.domain) return [];
    const kind = labels[labels.length - 1];
    if (kind === 'svc') return this.service(name, labels.slice(0, -1), type);
    if (kind === 'pod' && labels.length === 3) {
      const ip = (labels[0] ?? '').replace(/-/g, '.');
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return undefined;
      return type === 'A' || type === 'ANY' ? [{ type: 'A', name, ttl, data: ip }] : [];
    }
    if (labels.length === 1 && (kind === 'svc' || kind === 'pod')) return [];
    // <ns>.svc.<domain> and <ns>.pod.<domain> exist as empty non-terminals; everything else does not.
    return undefined;
  }

  private service(name: string, labels: string[], type: string): Answer[] | undefined {
    // labels: [ns] | [svc, ns] | [host, svc, ns] | [_port, _proto, svc, ns]
    if (labels.length === 1) return this.store.get('namespaces', undefined, labels[0] ?? '') ? [] : undefined;
    const ns = labels[labels.length - 1] ?? '';
    const svcName = labels[labels.length - 2] ?? '';
    const svc = this.store.get('services', ns, svcName);
    if (!svc) return undefined;
    const svcFqdn = `${svcName}.${ns}.svc.${this.domain}`;
    const headless = str(field(svc, 'spec', 'clusterIP')) === 'None';
    const addrs = headless ? this.readyAddresses(ns, svcName) : [];
    if (labels.length === 4) {
      const portName = (labels[0] ?? '').replace(/^_/, '');
      const proto = (labels[1] ?? '').replace(/^_/, '').toUpperCase();
      const ports = Array.isArray(field(svc, 'spec', 'ports'))
        ? (field(svc, 'spec', 'ports') as Record<string, unknown>[])
        : [];
      const p = ports.find((x) => x['name'] === portName && String(x['protocol'] ?? 'TCP') === proto);
      if (!p) return undefined;
      if (type !== 'SRV' && type !== 'ANY') return [];
      if (headless) {
        return addrs.map((a) => ({
          type: 'SRV',
          name,
          ttl,
          data: {
            priority: 0,
            weight: 100,
            port: Number(p['port']),
            target: `${a.ip.replace(/\./g, '-')}.${svcFqdn}`,
          },
        }));
      }
      return [
        {
          type: 'SRV',
          name,
          ttl,
          data: { priority: 0, weight: 100, port: Number(p['port']), target: svcFqdn },
        },
      ];
    }
    if (labels.length === 3) {
      const host = labels[0] ?? '';
      const match = addrs.find((a) => a.hostname === host || a.ip.replace(/\./g, '-') === host);
      if (!match) return undefined;
      return type === 'A' || type === 'ANY' ? [{ type: 'A', name, ttl, data: match.ip }] : [];
    }
    if (labels.length !== 2) return undefined;
    if (type === 'SRV') {
      const ports = Array.isArray(field(svc, 'spec', 'ports'))
        ? (field(svc, 'spec', 'ports') as Record<string, unknown>[])
        : [];
      return ports.map((p) => ({
        type: 'SRV',
        name,
        ttl,
        data: { priority: 0, weight: 100, port: Number(p['port']), target: svcFqdn },
      }));
    }
    if (type !== 'A' && type !== 'ANY') return [];
    if (str(field(svc, 'spec', 'type')) === 'ExternalName') {
      const ext = str(field(svc, 'spec', 'externalName')) ?? '';
      return [{ type: 'CNAME', name, ttl, data: ext }];
    }
    if (headless) return addrs.map((a) => ({ type: 'A', name, ttl, data: a.ip }));
    const ip = str(field(svc, 'spec', 'clusterIP'));
    return ip ? [{ type: 'A', name, ttl, data: ip }] : [];
  }

  private readyAddresses(ns: string, svc: string): { ip: string; hostname?: string }[] {
    const ep = this.store.get('endpoints', ns, svc);
    const out: { ip: string; hostname?: string }[] = [];
    for (const s of Array.isArray(ep?.['subsets']) ? (ep['subsets'] as unknown[]) : []) {
      const addresses = field(s, 'addresses');
      for (const a of Array.isArray(addresses) ? addresses : []) {
        const ip = str(field(a, 'ip'));
        const hostname = str(field(a, 'hostname'));
        if (ip && !out.some((o) => o.ip === ip)) out.push({ ip, ...(hostname ? { hostname } : {}) });
      }
    }
    return out;
  }

  private ptr(name: string, type: string): Answer[] | undefined {
    const ip = name
      .replace(/\.in-addr\.arpa$/, '')
      .split('.')
      .reverse()
      .join('.');
    for (const svc of this.store.list('services')) {
      if (str(field(svc, 'spec', 'clusterIP')) === ip) {
        const target = `${svc.metadata.name ?? ''}.${svc.metadata.namespace ?? ''}.svc.${this.domain}`;
        return type === 'PTR' || type === 'ANY' ? [{ type: 'PTR', name, ttl, data: target }] : [];
      }
    }
    for (const ep of this.store.list('endpoints')) {
      for (const s of Array.isArray(ep['subsets']) ? (ep['subsets'] as unknown[]) : []) {
        const addresses = field(s, 'addresses');
        for (const a of Array.isArray(addresses) ? addresses : []) {
          if (str(field(a, 'ip')) === ip) {
            const svc = this.store.get('services', ep.metadata.namespace, ep.metadata.name ?? '');
            if (!svc || str(field(svc, 'spec', 'clusterIP')) !== 'None') continue;
            const target = `${ip.replace(/\./g, '-')}.${ep.metadata.name ?? ''}.${ep.metadata.namespace ?? ''}.svc.${this.domain}`;
            return type === 'PTR' || type === 'ANY' ? [{ type: 'PTR', name, ttl, data: target }] : [];
          }
        }
      }
    }
    for (const pod of this.store.list('pods')) {
      if (str(field(pod, 'status', 'podIP')) === ip && !isHostNetwork(pod)) {
        const target = `${ip.replace(/\./g, '-')}.${pod.metadata.namespace ?? ''}.pod.${this.domain}`;
        return type === 'PTR' || type === 'ANY' ? [{ type: 'PTR', name, ttl, data: target }] : [];
      }
    }
    return undefined;
  }
}

function isHostNetwork(pod: KubeObject): boolean {
  const spec = pod['spec'];
  return isRecord(spec) && spec['hostNetwork'] === true;
}

export function rcodeFlag(rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED'): number {
  return { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 }[rcode];
}
