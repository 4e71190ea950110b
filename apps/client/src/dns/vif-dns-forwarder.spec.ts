// DNS flows from the TUN reach the server on loopback: a UDP datagram and its reply, a TCP stream both ways,
// and a flow that arrives before the server is known is refused.
import dgram from 'node:dgram';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { FlowId, TcpFlow, UdpFlow } from '@telepresence/netstack';
import { VifDnsForwarder } from './vif-dns-forwarder.js';

const id = (protocol: 'udp' | 'tcp', dst = '198.19.255.254', dstPort = 53): FlowId => ({
  family: 4,
  protocol,
  src: '198.19.255.253',
  srcPort: 40000,
  dst,
  dstPort,
});

/** The application's side of a flow: what it sends is readable by the forwarder, replies land in `got`. */
function fakeFlow(flowId: FlowId, objectMode: boolean): Duplex & { id: FlowId; got: Buffer[] } {
  const got: Buffer[] = [];
  const flow = new Duplex({
    objectMode,
    allowHalfOpen: true,
    read() {},
    write(chunk: Buffer, _enc, cb) {
      got.push(Buffer.from(chunk));
      cb();
    },
  });
  return Object.assign(flow, { id: flowId, got });
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('VifDnsForwarder', () => {
  it('matches only the DNS address and port 53', () => {
    const f = new VifDnsForwarder({ dnsAddress: '198.19.255.254' });
    expect(f.matches(id('udp'))).toBe(true);
    expect(f.matches(id('tcp'))).toBe(true);
    expect(f.matches(id('udp', '198.19.255.254', 5353))).toBe(false);
    expect(f.matches(id('udp', '198.18.0.10'))).toBe(false);
    expect(() => new VifDnsForwarder({ dnsAddress: 'dns' })).toThrow(/not an IP address/);
  });

  it('refuses flows before the server is known', async () => {
    const f = new VifDnsForwarder({ dnsAddress: '198.19.255.254' });
    await expect(f.acceptUdp(id('udp'))).rejects.toThrow(/before the DNS server was ready/);
  });

  it('forwards UDP datagrams and their replies', async () => {
    const server = dgram.createSocket('udp4');
    server.on('message', (msg, from) =>
      server.send(Buffer.concat([msg, Buffer.from('!')]), from.port, from.address),
    );
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    const f = new VifDnsForwarder({ dnsAddress: '198.19.255.254', idleMs: 200 });
    f.serveDnsAt('127.0.0.1', server.address().port);
    const flow = fakeFlow(id('udp'), true);
    (await f.acceptUdp(id('udp')))(flow as unknown as UdpFlow);
    flow.push(Buffer.from('query'));
    await until(() => flow.got.length > 0);
    expect(flow.got.map(String)).toEqual(['query!']);
    await until(() => flow.destroyed); // idle: socket and flow closed
    expect(flow.destroyed).toBe(true);
    server.close();
  });

  it('pipes TCP both ways', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const f = new VifDnsForwarder({ dnsAddress: '198.19.255.254' });
    f.serveDnsAt('127.0.0.1', (server.address() as net.AddressInfo).port);
    const flow = fakeFlow(id('tcp'), false);
    (await f.acceptTcp(id('tcp')))(flow as unknown as TcpFlow);
    flow.push(Buffer.from([0, 2, 1, 2]));
    await until(() => Buffer.concat(flow.got).length === 4);
    expect(Buffer.concat(flow.got)).toEqual(Buffer.from([0, 2, 1, 2]));
    f.close();
    flow.destroy();
    await new Promise((r) => server.close(r));
  });
});
