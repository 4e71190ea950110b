// The server's UDP behaviour is the same whichever transport carries it: answers, EDNS payload sizes and
// truncation, malformed datagrams, refused sources and IPv6, over the native transport and node:dgram.
import { promises as dnsPromises } from 'node:dns';
import dnsPacket from 'dns-packet';
import { openDnsServer } from '../src/server.js';
import type { UdpTransportKind } from '../src/udp/types.js';
import { MAX_QUERY_BYTES } from '../src/wire.js';
import {
  ECHO,
  TableCluster,
  baseConfig,
  dig,
  records,
  twoQuestionQuery,
  udpExchange,
  withServer,
} from './helpers.js';

const kinds: UdpTransportKind[] = process.platform === 'linux' ? ['native', 'dgram'] : ['dgram'];

describe.each(kinds)('dns server over the %s UDP transport', (kind) => {
  it('answers with dig, from the cluster then from the cache, keeping ID and letter case', async () => {
    await withServer({ udpTransport: kind }, async (server) => {
      expect(server.udpTransport).toBe(kind);
      for (let i = 0; i < 2; i++) {
        const r = await dig(server.address.port, 'Echo.Default.SVC.cluster.local');
        expect(r.answers[0]).toEqual(['Echo.Default.SVC.cluster.local.', '4', 'IN', 'A', '198.19.0.5']);
      }
      expect(server.stats.cacheHits).toBe(1);
      const q = dnsPacket.encode({ type: 'query', id: 4242, questions: [{ type: 'A', name: ECHO }] });
      expect((await udpExchange(server.address.port, q))!.readUInt16BE(0)).toBe(4242);
    });
  });

  it('keeps EDNS payload sizes and truncation', async () => {
    await withServer({ udpTransport: kind }, async (server) => {
      const port = server.address.port;
      const noEdns = await dig(port, 'big.default.svc.cluster.local', 'A', ['+noedns', '+ignore']);
      expect(noEdns.flags).toContain('tc');
      expect(noEdns.answers).toHaveLength(0);
      const edns = await dig(port, 'big.default.svc.cluster.local', 'A', ['+bufsize=4096', '+ignore']);
      expect(edns.answers).toHaveLength(60);
      const huge = await dig(port, 'huge.default.svc.cluster.local', 'A', ['+bufsize=4096', '+ignore']);
      expect(huge.flags).toContain('tc');
      expect((await dig(port, 'huge.default.svc.cluster.local', 'A')).answers).toHaveLength(100); // TCP retry
    });
  });

  it('FORMERR for malformed and oversized queries, nothing for runts and responses', async () => {
    await withServer({ udpTransport: kind }, async (server) => {
      const port = server.address.port;
      const two = twoQuestionQuery();
      expect((await udpExchange(port, two))![3]! & 0x0f).toBe(1);
      const oversized = Buffer.alloc(MAX_QUERY_BYTES + 500);
      oversized.writeUInt16BE(77, 0);
      const formerr = (await udpExchange(port, oversized))!;
      expect(formerr.readUInt16BE(0)).toBe(77);
      expect(formerr[3]! & 0x0f).toBe(1);
      expect(await udpExchange(port, Buffer.alloc(5), 200)).toBeUndefined();
      const response = Buffer.from(two);
      response[2] = 0x80;
      expect(await udpExchange(port, response, 200)).toBeUndefined();
      // Still serving after all that.
      expect((await dig(port, ECHO)).answers[0]?.[4]).toBe('198.19.0.5');
    });
  });

  it('answers REFUSED to sources it does not serve', async () => {
    await withServer({ udpTransport: kind, allowSource: (a) => a === '198.18.0.1' }, async (server) => {
      expect((await dig(server.address.port, ECHO)).status).toBe('REFUSED');
      expect(server.stats.refused).toBe(1);
    });
  });

  it('serves IPv6 loopback', async () => {
    await withServer({ udpTransport: kind, address: '::1' }, async (server) => {
      expect(server.udpTransport).toBe(kind);
      const r = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`[::1]:${server.address.port}`]);
      expect(await r.resolve4(ECHO)).toEqual(['198.19.0.5']);
    });
  });
});

it('uses the native UDP transport by default on Linux', async () => {
  const server = await openDnsServer({
    address: '127.0.0.1',
    config: baseConfig,
    cluster: new TableCluster(records),
  });
  try {
    expect(server.udpTransport).toBe(process.platform === 'linux' ? 'native' : 'dgram');
  } finally {
    await server.close();
  }
});
