// The UDP transports on real loopback sockets: the batched native one (Linux) and node:dgram, for both
// address families; bursts, batching, async replies, oversized datagrams, a full send buffer, selection.
import dgram from 'node:dgram';
import { silentLogger } from '../src/logger.js';
import { openUdpEndpoint, selectUdpTransport } from '../src/udp/endpoint.js';
import type { UdpEndpoint, UdpHandler, UdpTransportKind } from '../src/udp/types.js';
import { loadNativeUdp } from '../src/udp/native-addon.js';
import type { NativeUdp } from '../src/udp/native-addon.js';
import { NativeUdpEndpoint } from '../src/udp/native-endpoint.js';
import { MAX_QUERY_BYTES } from '../src/wire.js';
import { needs } from 'test-requirements';

const linux = process.platform === 'linux';
const itLinux = needs('linux').it;
const kinds: UdpTransportKind[] = linux ? ['native', 'dgram'] : ['dgram'];

const options = (address: string) => ({
  address,
  port: 0,
  bufferBytes: 4 << 20,
  maxMessage: MAX_QUERY_BYTES,
  log: silentLogger,
});

/** Replies "<source> <payload>". */
const echo: UdpHandler = (msg, source) => Buffer.concat([Buffer.from(source + ' '), msg]);

/** A client socket that collects replies. */
async function client(address: string) {
  const s = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => s.bind(0, address, r));
  const replies: Buffer[] = [];
  const waiters: Array<() => void> = [];
  s.on('message', (m) => {
    replies.push(m);
    for (const w of waiters.splice(0)) w();
  });
  return {
    socket: s,
    replies,
    send: (msg: Buffer | string, port: number) => s.send(msg, port, address),
    /** Waits until `n` replies arrived (or `ms` passed). */
    async waitFor(n: number, ms = 5000): Promise<void> {
      const until = Date.now() + ms;
      while (replies.length < n && Date.now() < until) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, 50);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

async function withEndpoint(
  kind: UdpTransportKind,
  address: string,
  handler: UdpHandler,
  fn: (e: UdpEndpoint) => Promise<void>,
): Promise<void> {
  const e = await openUdpEndpoint(options(address), handler, kind);
  try {
    await fn(e);
  } finally {
    await e.close();
  }
}

describe('selecting the UDP transport', () => {
  itLinux('uses the native transport on Linux when the addon is built', () => {
    expect(loadNativeUdp()).not.toBeInstanceOf(Error);
    expect(selectUdpTransport('auto').kind).toBe('native');
    expect(selectUdpTransport('native').kind).toBe('native');
  });

  it('falls back to node:dgram when the addon is unavailable, and says why', () => {
    const missing = () => new Error('the batched UDP addon is not built (test)');
    expect(selectUdpTransport('auto', { load: missing })).toEqual({
      kind: 'dgram',
      reason: 'the batched UDP addon is not built (test)',
    });
    expect(() => selectUdpTransport('native', { load: missing })).toThrow(
      /cannot use the native UDP transport.*not built/,
    );
    expect(selectUdpTransport('dgram').kind).toBe('dgram');
  });

  it('leaves scoped IPv6 addresses to node:dgram', () => {
    expect(selectUdpTransport('auto', { address: 'fe80::1%eth0' })).toEqual({
      kind: 'dgram',
      reason: 'the batched UDP transport does not bind scoped addresses (fe80::1%eth0)',
    });
  });
});

describe.each(kinds)('%s UDP transport', (kind) => {
  it.each(['127.0.0.1', '::1'])('answers datagrams from %s with their source address', async (address) => {
    await withEndpoint(kind, address, echo, async (e) => {
      expect(e.kind).toBe(kind);
      const c = await client(address);
      try {
        for (const p of ['a', 'b', 'c']) c.send(p, e.port);
        await c.waitFor(3);
        expect(c.replies.map(String).sort()).toEqual([`${address} a`, `${address} b`, `${address} c`]);
      } finally {
        await c.close();
      }
    });
  });

  it('sends async replies and skips undefined ones', async () => {
    const handler: UdpHandler = (msg) => {
      const n = Number(String(msg));
      if (n % 3 === 0) return undefined;
      const reply = Buffer.from(`r${n}`);
      return n % 3 === 1 ? reply : new Promise((r) => setTimeout(() => r(reply), 5));
    };
    await withEndpoint(kind, '127.0.0.1', handler, async (e) => {
      const c = await client('127.0.0.1');
      try {
        for (let i = 0; i < 30; i++) c.send(String(i), e.port);
        await c.waitFor(20);
        await new Promise((r) => setTimeout(r, 50)); // nothing more arrives
        const want = Array.from({ length: 30 }, (_, i) => i)
          .filter((i) => i % 3 !== 0)
          .map((i) => `r${i}`);
        expect(c.replies.map(String).sort()).toEqual(want.sort());
      } finally {
        await c.close();
      }
    });
  });

  it('hands a datagram longer than the largest query over as too long (so it gets FORMERR)', async () => {
    const lengths: number[] = [];
    await withEndpoint(
      kind,
      '127.0.0.1',
      (msg) => {
        lengths.push(msg.length);
        return Buffer.from('ok');
      },
      async (e) => {
        const c = await client('127.0.0.1');
        try {
          c.send(Buffer.alloc(MAX_QUERY_BYTES + 900), e.port);
          c.send(Buffer.alloc(0), e.port);
          await c.waitFor(2);
          expect(lengths).toHaveLength(2);
          expect(lengths[0]).toBeGreaterThan(MAX_QUERY_BYTES);
          expect(lengths[1]).toBe(0);
        } finally {
          await c.close();
        }
      },
    );
  });

  it('answers a large burst completely', async () => {
    const total = 10_000;
    const window = 2_000;
    await withEndpoint(
      kind,
      '127.0.0.1',
      (msg) => msg,
      async (e) => {
        const c = await client('127.0.0.1');
        try {
          let sent = 0;
          while (sent < total) {
            const upTo = Math.min(total, c.replies.length + window);
            for (; sent < upTo; sent++) c.send(String(sent), e.port);
            await c.waitFor(Math.min(total, sent - window / 2));
          }
          await c.waitFor(total, 10_000);
          expect(c.replies.length).toBe(total);
          expect(new Set(c.replies.map(String)).size).toBe(total);
          if (e instanceof NativeUdpEndpoint) {
            expect(e.stats.datagrams).toBe(total);
            expect(e.stats.dropped).toBe(0);
            // Batched: far fewer JS calls and sends than datagrams.
            expect(e.stats.batches).toBeLessThan(total / 2);
            expect(e.stats.sends).toBeLessThan(total / 2);
          }
        } finally {
          await c.close();
        }
      },
    );
  });

  it('frees its port on close, and close is idempotent', async () => {
    const e = await openUdpEndpoint(options('127.0.0.1'), echo, kind);
    const port = e.port;
    await e.close();
    await e.close();
    const again = await openUdpEndpoint({ ...options('127.0.0.1'), port }, echo, kind);
    expect(again.port).toBe(port);
    await again.close();
  });

  it('reports EADDRINUSE for a taken port', async () => {
    await withEndpoint(kind, '127.0.0.1', echo, async (e) => {
      await expect(
        openUdpEndpoint({ ...options('127.0.0.1'), port: e.port }, echo, kind),
      ).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    });
  });
});

describe('native UDP transport internals', () => {
  itLinux('asks the kernel for the configured buffer sizes', async () => {
    await withEndpoint('native', '127.0.0.1', echo, async (e) => {
      const [rcv, snd] = (e as NativeUdpEndpoint).bufferSizes;
      // The kernel reports double what it grants and caps the request at net.core.[rw]mem_max.
      expect(rcv).toBeGreaterThan(1 << 20);
      expect(snd).toBeGreaterThan(1 << 20);
    });
  });

  itLinux('a handler that throws costs only its own datagram its answer', async () => {
    const handler: UdpHandler = (msg) => {
      if (String(msg) === 'bad') throw new Error('boom');
      return msg;
    };
    await withEndpoint('native', '127.0.0.1', handler, async (e) => {
      const c = await client('127.0.0.1');
      try {
        for (const p of ['a', 'bad', 'b', 'bad', 'c']) c.send(p, e.port);
        await c.waitFor(3);
        await new Promise((r) => setTimeout(r, 50));
        expect(c.replies.map(String).sort()).toEqual(['a', 'b', 'c']);
      } finally {
        await c.close();
      }
    });
  });

  itLinux('keeps replies the kernel cannot take yet and sends them once the socket is writable', async () => {
    const real = loadNativeUdp() as NativeUdp;
    const writable: boolean[] = [];
    // The kernel refuses every other send call (as EAGAIN would): at most one datagram, then a stop.
    let refuse = false;
    const flaky: NativeUdp = {
      ...real,
      sendBatch: (fd, buffer, meta, count, status) => {
        refuse = !refuse;
        if (refuse) {
          status[0] = 0;
          return 0;
        }
        return real.sendBatch(fd, buffer, meta, Math.min(1, count), status);
      },
      Poller: class {
        readonly #inner;
        constructor(...args: ConstructorParameters<NativeUdp['Poller']>) {
          this.#inner = new real.Poller(...args);
        }
        start() {
          this.#inner.start();
        }
        stop() {
          this.#inner.stop();
        }
        watchWritable(on: boolean) {
          writable.push(on);
          this.#inner.watchWritable(on);
        }
      },
    };
    const { fd, port } = real.open('127.0.0.1', 0, 1 << 20);
    const e = new NativeUdpEndpoint(flaky, fd, port, options('127.0.0.1'), (msg) => msg);
    const c = await client('127.0.0.1');
    try {
      for (let i = 0; i < 50; i++) c.send(String(i), port);
      await c.waitFor(50);
      expect(c.replies.map(String).sort()).toEqual(Array.from({ length: 50 }, (_, i) => String(i)).sort());
      expect(e.stats.waited).toBeGreaterThan(0);
      expect(e.stats.dropped).toBe(0);
      expect(writable[0]).toBe(true);
      expect(writable.at(-1)).toBe(false);
    } finally {
      await c.close();
      await e.close();
    }
  });
});
