import { jest } from '@jest/globals';
import fc from 'fast-check';
import type { AttachTcp, FlowHandler } from './flow-handler.js';
import { Netstack } from './stack.js';
import { ACK, FIN, RST, SYN } from './tcp/segment.js';
import { CONNECTION_CLOSED, FIN_ACK_DELAY_MS } from './tcp/tcp-connection.js';
import type { ConnectSignal } from './connect-signal.js';
import type { TcpFlow, UdpFlow } from './flow-handler.js';
import { MemoryDevice, tcpPacket4, udpPacket4 } from './testing/memory-device.js';

const app = { src: '198.19.0.1', dst: '198.18.0.10', srcPort: 40000, dstPort: 80 };
const mssOption = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7]);

function setup(handler: FlowHandler, options = {}, vnetHdr = false) {
  const dev = new MemoryDevice({ vnetHdr });
  const stack = new Netstack(dev, handler, { connectTimeoutMs: 200, ...options });
  stack.start();
  return { dev, stack };
}

const flagsOf = (p: Buffer) => p[33]! & 0x3f;
const tick = () => new Promise((r) => setImmediate(r));

describe('Netstack TCP handshake', () => {
  afterEach(() => jest.useRealTimers());

  it('answers SYN-ACK only after the handler accepts', async () => {
    let accept!: (a: AttachTcp) => void;
    const { dev, stack } = setup({ onTcpConnect: () => new Promise((r) => (accept = r)) });
    dev.inject(tcpPacket4({ ...app, seq: 1000, flags: SYN, options: mssOption }));
    expect(dev.take()).toHaveLength(0);
    accept((flow) => flow.on('error', () => undefined));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const out = dev.take();
    expect(out).toHaveLength(1);
    expect(flagsOf(out[0]!)).toBe(SYN | ACK);
    expect(out[0]!.readUInt32BE(28)).toBe(1001);
    stack.close();
  });

  it('answers RST when the handler rejects', async () => {
    const { dev, stack } = setup({ onTcpConnect: () => Promise.reject(new Error('no')) });
    dev.inject(tcpPacket4({ ...app, seq: 5, flags: SYN }));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const out = dev.take();
    expect(out.map(flagsOf)).toEqual([RST | ACK]);
    expect(stack.getStats()).toMatchObject({ tcpRejected: 1, tcpActive: 0 });
    stack.close();
  });

  it("aborts the handler's signal when the stack closes while it decides, and never after an accept", async () => {
    const signals: ConnectSignal[] = [];
    let accept!: (a: AttachTcp) => void;
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({
      onTcpConnect: (_id, signal) => {
        signals.push(signal);
        return signals.length === 1 ? new Promise((r) => (accept = r)) : new Promise(() => undefined);
      },
    });
    // The first is accepted, then reset by the application: its handler owns the flow by then.
    dev.inject(tcpPacket4({ ...app, seq: 5, flags: SYN }));
    accept((flow) => {
      flow.on('error', () => undefined);
      flows.push(flow);
    });
    await tick();
    await tick();
    expect(flows).toHaveLength(1);
    dev.inject(tcpPacket4({ ...app, seq: 6, flags: RST }));
    expect(flows[0]!.destroyed).toBe(true);
    // The second is still being decided on when the stack closes.
    dev.inject(tcpPacket4({ ...app, srcPort: 40001, seq: 5, flags: SYN }));
    stack.close();
    expect(signals[1]!.aborted).toBe(true);
    expect(signals[0]!.aborted).toBe(false);
  });

  it('a connect timeout aborts the signal with the connection-closed reason', async () => {
    let signal: ConnectSignal | undefined;
    const { dev, stack } = setup(
      {
        onTcpConnect: (_id, s) => {
          signal = s;
          return new Promise(() => undefined);
        },
      },
      { connectTimeoutMs: 50 },
    );
    dev.inject(tcpPacket4({ ...app, seq: 5, flags: SYN }));
    await delay(400);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(CONNECTION_CLOSED);
    expect(dev.take().map(flagsOf)).toContain(RST | ACK);
    stack.close();
  });

  it('resets segments for unknown connections and drops bad checksums', async () => {
    const { dev, stack } = setup({ onTcpConnect: () => new Promise(() => undefined) });
    dev.inject(tcpPacket4({ ...app, seq: 5, ack: 77, flags: ACK }));
    await tick(); // what the stack sends goes out at the end of the event loop's turn
    expect(dev.take().map(flagsOf)).toEqual([RST]);
    const bad = tcpPacket4({ ...app, seq: 5, flags: SYN });
    bad.writeUInt16BE(bad.readUInt16BE(36) ^ 0x0101, 36);
    dev.inject(bad);
    expect(stack.getStats().dropBadChecksum).toBe(1);
    stack.close();
  });
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Netstack TCP data', () => {
  it('delivers data, answers keep-alive probes with an ACK and resets on destroy', async () => {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({ onTcpConnect: async () => (flow) => flows.push(flow) });
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
    await tick();
    await tick();
    const synAck = dev.take()[0]!;
    const iss = synAck.readUInt32BE(24);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK, data: Buffer.from('hello') }));
    await tick();
    const flow = flows[0]!;
    flow.on('error', () => undefined);
    expect(flow.read()?.toString()).toBe('hello');
    await tick();
    expect(dev.take().map((p) => p.readUInt32BE(28))).toEqual([106]);
    // Keep-alive: one byte before the next expected sequence number.
    dev.inject(tcpPacket4({ ...app, seq: 105, ack: iss + 1, flags: ACK }));
    await tick();
    expect(dev.take().map((p) => [flagsOf(p), p.readUInt32BE(28)])).toEqual([[ACK, 106]]);
    flow.destroy();
    await tick();
    expect(dev.take().map(flagsOf)).toEqual([RST | ACK]);
    expect(stack.getStats().tcpActive).toBe(0);
    stack.close();
  });
});

describe('Netstack TCP close', () => {
  async function established() {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({ onTcpConnect: async () => (flow) => flows.push(flow) });
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
    await tick();
    await tick();
    const iss = dev.take()[0]!.readUInt32BE(24);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK }));
    await tick();
    const flow = flows[0]!;
    flow.on('error', () => undefined);
    flow.resume();
    return { dev, stack, flow, iss };
  }

  it("carries the ACK of the application's FIN on our FIN when we close soon after (three packets)", async () => {
    const { dev, stack, flow, iss } = await established();
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK | FIN }));
    await tick();
    expect(dev.take()).toEqual([]); // no pure ACK yet
    flow.end();
    await tick();
    expect(dev.take().map((p) => [flagsOf(p), p.readUInt32BE(28)])).toEqual([[FIN | ACK, 102]]);
    dev.inject(tcpPacket4({ ...app, seq: 102, ack: iss + 2, flags: ACK }));
    await tick();
    expect(stack.getStats().tcpActive).toBe(0);
    stack.close();
  });

  it("acknowledges the application's FIN alone once the delay passed, and a retransmitted FIN at once", async () => {
    const { dev, stack, iss } = await established();
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK | FIN }));
    await tick();
    expect(dev.take()).toEqual([]);
    await delay(FIN_ACK_DELAY_MS + 40); // the stack's timer ticks every 10 ms
    expect(dev.take().map((p) => [flagsOf(p), p.readUInt32BE(28)])).toEqual([[ACK, 102]]);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK | FIN })); // its ACK got lost
    await tick();
    expect(dev.take().map((p) => [flagsOf(p), p.readUInt32BE(28)])).toEqual([[ACK, 102]]);
    stack.close();
  });
});

describe('Netstack TCP windows', () => {
  it('sends no window update before any data; the first data ACK carries the full window, after the reader got the data', async () => {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({
      onTcpConnect: async () => (flow) => {
        flows.push(flow);
        flow.resume(); // a reader that asks at once, as the tunnel pump does
      },
    });
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
    await tick();
    await tick();
    const iss = dev.take()[0]!.readUInt32BE(24);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK })); // handshake done
    await tick();
    await tick();
    expect(dev.take()).toHaveLength(0); // no pure window update after the handshake
    const got: string[] = [];
    flows[0]!.on('data', (d: Buffer) => got.push(d.toString()));
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK, data: Buffer.from('hi') }));
    // The reader has the data at once; the ACK waits for the end of the turn (after what it wrote on).
    expect(got).toEqual(['hi']);
    expect(dev.take()).toHaveLength(0);
    await tick();
    const acks = dev.take();
    expect(acks.map((p) => [flagsOf(p), p.readUInt32BE(28)])).toEqual([[ACK, 103]]);
    expect(acks[0]!.readUInt16BE(34)).toBeGreaterThan(65535 >> 7); // scaled: more than the SYN-ACK's 64 KiB
    flows[0]!.destroy();
    stack.close();
  });
});

describe('Netstack UDP', () => {
  const udp = { src: '198.19.0.1', dst: '198.18.0.20', srcPort: 5000, dstPort: 53 };

  it('answers ICMP port unreachable when the handler rejects the flow', async () => {
    const { dev, stack } = setup({
      onTcpConnect: () => Promise.reject(new Error('no')),
      onUdpFlow: () => Promise.reject(new Error('no')),
    });
    const datagram = udpPacket4({ ...udp, data: Buffer.from('q') });
    dev.inject(datagram);
    await tick();
    await tick();
    const [icmp] = dev.take();
    expect(icmp![9]).toBe(1); // ICMP
    expect([icmp![20], icmp![21]]).toEqual([3, 3]); // port unreachable
    expect(icmp!.subarray(28).equals(datagram)).toBe(true); // quotes the datagram
    expect(stack.getStats()).toMatchObject({ udpRejected: 1, udpActive: 0 });
    stack.close();
  });

  it('keeps datagram boundaries both ways', async () => {
    let flow!: UdpFlow;
    const { dev, stack } = setup({
      onTcpConnect: () => Promise.reject(new Error('no')),
      onUdpFlow: async () => (f) => (flow = f),
    });
    dev.inject(
      udpPacket4({ ...udp, data: Buffer.from('one') }),
      udpPacket4({ ...udp, data: Buffer.from('two') }),
    );
    await tick();
    await tick();
    expect([flow.read()?.toString(), flow.read()?.toString()]).toEqual(['one', 'two']);
    flow.write(Buffer.from('answer-1'));
    flow.write(Buffer.from('answer-22'));
    await tick();
    const out = dev.take();
    expect(out.map((p) => p.subarray(28).toString())).toEqual(['answer-1', 'answer-22']);
    expect(out[0]!.readUInt16BE(20)).toBe(53);
    stack.close();
  });
});

describe.each([
  ['a plain TUN', false],
  ['a virtio_net_hdr TUN (checksums partial: not verified)', true],
])('Netstack fuzz on %s', (_name, vnetHdr) => {
  it('never throws and never keeps state for garbage, truncated or mutated packets', () => {
    const { dev, stack } = setup({ onTcpConnect: () => Promise.reject(new Error('no')) }, {}, vnetHdr);
    const seeds = [
      tcpPacket4({ ...app, seq: 1, flags: SYN, options: mssOption }),
      tcpPacket4({ ...app, seq: 1, ack: 2, flags: ACK, data: Buffer.from('hello') }),
      Buffer.from(
        '6000000000081140' + '20010db8000000000000000000000001'.repeat(2) + '0035003500080000',
        'hex',
      ),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }).map((a) => Buffer.from(a)),
          fc
            .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(200), fc.nat(255))), fc.nat(200))
            .map(([seed, flips, cut]) => {
              const p = Buffer.from(seed);
              for (const [i, v] of flips) if (i < p.length) p[i] = v;
              return p.subarray(0, Math.max(1, Math.min(p.length, cut + 1)));
            }),
        ),
        (packet) => {
          dev.injectWithFlags(vnetHdr ? 1 : 0, packet);
          dev.take();
        },
      ),
      { numRuns: 3000 },
    );
    // Connections created by mutated SYNs wait for the (rejecting) handler; none may stay open.
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(stack.getStats()).toMatchObject({ tcpActive: 0, udpActive: 0 });
        stack.close();
        resolve();
      }, 50),
    );
  });
});

describe('Netstack TCP loss recovery with SACK', () => {
  it('resends every hole the SACK blocks reveal within one round of duplicate ACKs', async () => {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({ onTcpConnect: async () => (flow) => flows.push(flow) });
    const sackPermitted = Buffer.from([2, 4, 0x05, 0xb4, 1, 1, 4, 2]); // MSS 1460, SACK permitted
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: sackPermitted }));
    await tick();
    await tick();
    const iss = dev.take()[0]!.readUInt32BE(24);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK, window: 65535 }));
    await tick();
    const flow = flows[0]!;
    flow.on('error', () => undefined);
    flow.write(Buffer.alloc(10 * 1460, 1));
    await tick();
    const sent = dev.take().filter((p) => p.length > 40);
    expect(sent).toHaveLength(10); // initial window: 10 segments
    const seg = (i: number) => (iss + 1 + i * 1460) >>> 0;
    // Segments 0 and 3 are lost; the application SACKs 1-2 and 4-9 with each duplicate ACK.
    const sack = Buffer.alloc(20);
    sack.writeUInt32BE(0x01010512, 0); // NOP NOP SACK len 18
    sack.writeUInt32BE(seg(4), 4);
    sack.writeUInt32BE(seg(10), 8);
    sack.writeUInt32BE(seg(1), 12);
    sack.writeUInt32BE(seg(3), 16);
    const dup = () =>
      tcpPacket4({ ...app, seq: 101, ack: seg(0), flags: ACK, window: 65535, options: sack.subarray(0, 20) });
    for (let i = 0; i < 5; i++) dev.inject(dup());
    await tick();
    const resent = dev
      .take()
      .filter((p) => p.length > 40)
      .map((p) => p.readUInt32BE(24));
    expect(resent.slice(0, 2)).toEqual([seg(0), seg(3)]); // both holes, no RTO and no go-back-N
    expect(stack.getStats().tcpRtoExpirations).toBe(0);
    stack.close();
  });
});

describe('Netstack TCP after a timeout once our FIN was sent', () => {
  it('resends the rest of the data and the FIN as ACKs come, in LAST-ACK (it stalled for good)', async () => {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({ onTcpConnect: async () => (flow) => flows.push(flow) }, { minRtoMs: 20 });
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
    await tick();
    await tick();
    const iss = dev.take()[0]!.readUInt32BE(24);
    // The application half-closes at once: the stack is in CLOSE-WAIT.
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK | FIN, window: 65535 }));
    await tick();
    const flow = flows[0]!;
    flow.on('error', () => undefined);
    flow.resume();
    flow.end(Buffer.alloc(5 * 1460, 7)); // five segments and our FIN: LAST-ACK
    await tick();
    const first = dev.take().filter((p) => p.length > 40 || flagsOf(p) & FIN);
    expect(first.some((p) => flagsOf(p) & FIN)).toBe(true);
    // Everything is lost: the retransmission timer goes back to the first unacknowledged byte.
    const deadline = Date.now() + 5000;
    while (stack.getStats().tcpRtoExpirations === 0 && Date.now() < deadline) await delay(10);
    expect(stack.getStats().tcpRtoExpirations).toBeGreaterThan(0);
    // Acknowledge whatever arrives, as a live peer would, until our FIN is acknowledged.
    const seen = new Set<number>();
    let finAt = -1;
    for (let round = 0; round < 20 && finAt < 0; round++) {
      await delay(5);
      const out = dev.take();
      let ackTo = -1;
      for (const p of out) {
        const seq = p.readUInt32BE(24);
        const len = p.length - 40;
        if (len > 0) {
          seen.add(seq);
          ackTo = Math.max(ackTo, seq + len);
        }
        if (flagsOf(p) & FIN) finAt = seq + len;
      }
      if (ackTo >= 0)
        dev.inject(tcpPacket4({ ...app, seq: 102, ack: ackTo >>> 0, flags: ACK, window: 65535 }));
    }
    expect(seen.size).toBe(5); // every segment again, not only what the first timeout resent
    expect(finAt).toBe((iss + 1 + 5 * 1460) >>> 0);
    stack.close();
  });
});

describe('Netstack timers run only for connections that need them', () => {
  /** A connection whose handshake completed and whose data was acknowledged: nothing pending. */
  async function established(options = {}) {
    const flows: TcpFlow[] = [];
    const { dev, stack } = setup({ onTcpConnect: async () => (flow) => flows.push(flow) }, options);
    dev.inject(tcpPacket4({ ...app, seq: 100, flags: SYN, options: mssOption }));
    await tick();
    await tick();
    const iss = dev.take()[0]!.readUInt32BE(24);
    expect(stack.debugTimers()).toEqual({ tcp: true, udp: false, ticked: 1 }); // the SYN-ACK's timer
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: iss + 1, flags: ACK, window: 65535 }));
    await tick();
    const flow = flows[0]!;
    flow.on('error', () => undefined);
    return { dev, stack, flow, iss };
  }

  it('an idle connection is not ticked and no timer runs; sending again starts the retransmission timer', async () => {
    const { dev, stack, flow, iss } = await established({ minRtoMs: 20 });
    await delay(30);
    expect(stack.debugTimers()).toEqual({ tcp: false, udp: false, ticked: 0 });
    flow.write(Buffer.from('lost'));
    await tick();
    expect(dev.take().filter((p) => p.length > 40)).toHaveLength(1);
    expect(stack.debugTimers()).toEqual({ tcp: true, udp: false, ticked: 1 });
    // Not acknowledged: the timer that had stopped resends it.
    const deadline = Date.now() + 5000;
    while (stack.getStats().tcpRtoExpirations === 0 && Date.now() < deadline) await delay(10);
    const again = dev.take().filter((p) => p.length > 40);
    expect(again.length).toBeGreaterThan(0);
    expect(again[0]!.readUInt32BE(24)).toBe((iss + 1) >>> 0);
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: (iss + 5) >>> 0, flags: ACK, window: 65535 }));
    await delay(30);
    expect(stack.debugTimers()).toEqual({ tcp: false, udp: false, ticked: 0 });
    stack.close();
  });

  it('a connection in TIME-WAIT is forgotten after timeWaitMs', async () => {
    const { dev, stack, flow, iss } = await established({ timeWaitMs: 50 });
    flow.resume();
    flow.end(); // our FIN first: FIN-WAIT-1
    await tick();
    dev.take();
    dev.inject(tcpPacket4({ ...app, seq: 101, ack: (iss + 2) >>> 0, flags: ACK | FIN, window: 65535 }));
    await tick();
    expect(stack.getStats().tcpActive).toBe(1); // TIME-WAIT
    const deadline = Date.now() + 5000;
    while (stack.getStats().tcpActive > 0 && Date.now() < deadline) await delay(10);
    expect(stack.getStats().tcpActive).toBe(0);
    expect(stack.debugTimers()).toEqual({ tcp: false, udp: false, ticked: 0 });
    stack.close();
  });

  it('an idle UDP flow is closed after udpIdleTimeoutMs, and the UDP timer stops with the last flow', async () => {
    const flows: UdpFlow[] = [];
    const { dev, stack } = setup(
      { onTcpConnect: async () => () => undefined, onUdpFlow: async () => (flow) => flows.push(flow) },
      { udpIdleTimeoutMs: 100 },
    );
    dev.inject(udpPacket4({ ...app, dstPort: 53, data: Buffer.from('q') }));
    await tick();
    await tick();
    expect(flows).toHaveLength(1);
    expect(stack.debugTimers().udp).toBe(true);
    const ended = new Promise<void>((r) => flows[0]!.once('end', () => r()));
    flows[0]!.resume();
    await ended; // within one check (1 s) after 100 ms idle
    expect(stack.getStats().udpIdleClosed).toBe(1);
    const deadline = Date.now() + 3000;
    while (stack.debugTimers().udp && Date.now() < deadline) await delay(50);
    expect(stack.debugTimers().udp).toBe(false);
    stack.close();
  });
});
