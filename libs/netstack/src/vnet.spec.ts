import type { TcpFlow } from './flow-handler.js';
import { Netstack } from './stack.js';
import { ACK, SYN } from './tcp/segment.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4 } from './ip/vnet-hdr.js';
import { MemoryDevice, checksum, tcpPacket4 } from './testing/memory-device.js';

// The stack on a TUN opened with IFF_VNET_HDR: TSO super-segments in, partial checksums and GSO out.
const app = { src: '198.19.0.1', dst: '198.18.0.10', srcPort: 40000, dstPort: 80 };
const mssOption = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7]); // MSS 1460, window scale 7
const tick = () => new Promise((r) => setImmediate(r));

/** What the kernel does with CHECKSUM_PARTIAL: sum from csum_start and store the result at the offset. */
function completeChecksum(packet: Buffer, hdr: Buffer): void {
  expect(hdr[0]! & VNET_F_NEEDS_CSUM).toBe(VNET_F_NEEDS_CSUM);
  const start = hdr.readUInt16LE(6);
  const at = start + hdr.readUInt16LE(8);
  // The field holds the folded pseudo-header sum; the one's complement of the whole sum is the checksum.
  packet.writeUInt16BE(checksum(packet, start, packet.length - start), at);
}

/** A valid IPv4 TCP checksum (pseudo header + segment) sums to 0xffff; checksum() then gives 0. */
function tcpChecksumOk(packet: Buffer): boolean {
  const tcpLen = packet.length - 20;
  const pseudo = Buffer.alloc(12 + tcpLen);
  packet.copy(pseudo, 0, 12, 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcpLen, 10);
  packet.copy(pseudo, 12, 20);
  return checksum(pseudo, 0, pseudo.length) === 0;
}

async function connect() {
  const dev = new MemoryDevice({ vnetHdr: true });
  const flows: TcpFlow[] = [];
  const stack = new Netstack(dev, { onTcpConnect: async () => (f) => flows.push(f) }, { mtu: 1500 });
  stack.start();
  dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
  await tick();
  await tick();
  const [synAck] = dev.takeWithHdr();
  const iss = synAck!.packet.readUInt32BE(24);
  dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK }));
  await tick();
  const flow = flows[0]!;
  flow.on('error', () => undefined);
  return { dev, stack, flow, iss, synAck: synAck! };
}

describe('Netstack on a virtio_net_hdr device', () => {
  it('writes TCP with partial checksums the kernel can complete', async () => {
    const { stack, synAck } = await connect();
    expect(synAck.hdr[1]).toBe(0); // not GSO
    expect(synAck.hdr.readUInt16LE(6)).toBe(20); // csum_start: TCP header
    expect(synAck.hdr.readUInt16LE(8)).toBe(16); // csum_offset: TCP checksum field
    completeChecksum(synAck.packet, synAck.hdr);
    expect(tcpChecksumOk(synAck.packet)).toBe(true);
    stack.close();
  });

  it('takes a TSO super-segment whose checksum the kernel left partial, and drops a bad full one', async () => {
    const { dev, stack, flow, iss } = await connect();
    const payload = Buffer.alloc(60_000, 7);
    const big = tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK, data: payload });
    big.writeUInt16BE(0x1234, 36); // partial: not a valid full checksum
    dev.inject(big); // flags 0: the checksum must be valid
    expect(stack.getStats().dropBadChecksum).toBe(1);
    dev.injectWithFlags(VNET_F_NEEDS_CSUM, big);
    await tick();
    expect(flow.read()?.length).toBe(60_000);
    const acks = dev.take();
    expect(acks.at(-1)!.readUInt32BE(28)).toBe(101 + 60_000);
    stack.close();
  });

  it('sends large writes as GSO super-segments of MSS-sized segments', async () => {
    const { dev, stack, flow, iss } = await connect();
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    flow.write(data);
    await tick();
    let out = dev.takeWithHdr();
    const got: Buffer[] = [];
    let acked = iss + 1;
    // Acknowledge what arrives until everything is through (the congestion window opens up).
    for (let round = 0; round < 20 && got.reduce((n, b) => n + b.length, 0) < data.length; round++) {
      for (const { packet, hdr } of out) {
        const body = packet.subarray(40);
        if (body.length === 0) continue;
        if (body.length > 1460) {
          expect(hdr[1]).toBe(VNET_GSO_TCPV4);
          expect(hdr.readUInt16LE(4)).toBe(1460); // gso_size
          expect(hdr.readUInt16LE(2)).toBe(40); // hdr_len
        }
        expect(body.length).toBeLessThanOrEqual(65_000);
        completeChecksum(packet, hdr);
        expect(tcpChecksumOk(packet)).toBe(true);
        got.push(Buffer.from(body));
        acked = packet.readUInt32BE(24) + body.length;
      }
      dev.inject(tcpPacket4({ ...app, seq: 101, ack: acked, flags: ACK, window: 65535 }));
      await tick();
      out = dev.takeWithHdr();
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(got.some((b) => b.length > 1460)).toBe(true);
    stack.close();
  });
});
