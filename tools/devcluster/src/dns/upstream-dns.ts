// The "upstream" resolver on the workstation link: authoritative for a test zone (every name under it
// resolves, to the configured address or a default), NXDOMAIN for everything else (no internet here).
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { rcodeFlag } from './cluster-dns.js';

export interface UpstreamZone {
  /** e.g. 'example.test' */
  readonly zone: string;
  /** Exact names (without trailing dot) to addresses; other names in the zone get `defaultAddress`. */
  readonly records: Readonly<Record<string, string>>;
  readonly defaultAddress: string;
}

export function upstreamHandler(zone: UpstreamZone): (raw: Buffer) => Promise<Buffer | undefined> {
  return (raw) => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return Promise.resolve(undefined);
    }
    const q = query.questions?.[0];
    if (!q) return Promise.resolve(undefined);
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const inZone = name === zone.zone || name.endsWith(`.${zone.zone}`);
    const answers: Answer[] = [];
    if (inZone && (q.type === 'A' || (q.type as string) === 'ANY')) {
      answers.push({ type: 'A', name: q.name, ttl: 30, data: zone.records[name] ?? zone.defaultAddress });
    }
    return Promise.resolve(
      dnsPacket.encode({
        type: 'response',
        id: query.id ?? 0,
        flags:
          dnsPacket.AUTHORITATIVE_ANSWER |
          dnsPacket.RECURSION_AVAILABLE |
          rcodeFlag(inZone ? 'NOERROR' : 'NXDOMAIN'),
        questions: [q],
        answers,
      }),
    );
  };
}
