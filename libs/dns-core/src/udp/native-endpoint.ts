// The batched UDP transport (Linux): the addon reads up to BATCH datagrams per recvmmsg into one reused
// buffer and calls us once per batch; the synchronous replies of a batch go out in one sendmmsg.
// Replies the kernel cannot take yet (EAGAIN) wait in a bounded queue until the socket is writable.
import { loadNativeUdp, META_STRIDE } from './native-addon.js';
import type { NativeUdp, NativeUdpPoller } from './native-addon.js';
import type { UdpEndpoint, UdpEndpointOptions, UdpHandler } from './types.js';

/** Datagrams per recvmmsg. */
const BATCH = 64;
/** Reply bytes gathered before a sendmmsg; a UDP reply is at most 65,535 bytes. */
const OUT_BYTES = 256 * 1024;
/** Replies waiting for a full send buffer to drain; more are dropped (the client retries). */
const MAX_WAITING = 8192;

/** Counters for tests and diagnostics. */
export interface NativeUdpStats {
  datagrams: number;
  batches: number;
  /** sendBatch calls (each one or more sendmmsg). */
  sends: number;
  /** Replies that had to wait for the socket to become writable. */
  waited: number;
  /** Replies dropped: queue full or a send error. */
  dropped: number;
}

interface Waiting {
  readonly bytes: Buffer;
  readonly meta: Int32Array;
  count: number;
  next: number;
}

export async function openNativeEndpoint(
  options: UdpEndpointOptions,
  handler: UdpHandler,
): Promise<UdpEndpoint> {
  const native = loadNativeUdp();
  if (native instanceof Error) throw native;
  const { fd, port } = native.open(options.address, options.port, options.bufferBytes);
  return new NativeUdpEndpoint(native, fd, port, options, handler);
}

export class NativeUdpEndpoint implements UdpEndpoint {
  readonly kind = 'native';
  readonly port: number;
  readonly stats: NativeUdpStats = { datagrams: 0, batches: 0, sends: 0, waited: 0, dropped: 0 };
  readonly #native: NativeUdp;
  readonly #fd: number;
  readonly #handler: UdpHandler;
  readonly #options: UdpEndpointOptions;
  readonly #poller: NativeUdpPoller;
  readonly #slot: number;
  readonly #in: Buffer;
  readonly #inMeta = new Int32Array(BATCH * META_STRIDE);
  readonly #out = Buffer.allocUnsafe(OUT_BYTES);
  readonly #outMeta = new Int32Array(BATCH * META_STRIDE);
  readonly #status = new Int32Array(2);
  #outCount = 0;
  #outBytes = 0;
  #flushScheduled = false;
  readonly #waiting: Waiting[] = [];
  #waitingCount = 0;
  #closed = false;
  // The source address text of the last datagram, reused while the source stays the same.
  #lastSource = '';
  readonly #lastAddr = new Int32Array(5).fill(-1);

  constructor(native: NativeUdp, fd: number, port: number, options: UdpEndpointOptions, handler: UdpHandler) {
    this.#native = native;
    this.#fd = fd;
    this.port = port;
    this.#options = options;
    this.#handler = handler;
    this.#slot = (options.maxMessage + 1 + 7) & ~7;
    this.#in = Buffer.allocUnsafe(this.#slot * BATCH);
    this.#poller = new native.Poller(fd, this.#in, this.#inMeta, this.#slot, (kind, count, error) => {
      if (error !== undefined) options.log.warn({ err: error }, 'dns udp receive failed');
      else if (kind === 1) this.#onBatch(count);
      else this.#onWritable();
    });
    this.#poller.start();
  }

  /** Kernel buffer sizes [receive, send] (the kernel reports twice what it grants). */
  get bufferSizes(): [number, number] {
    return this.#native.bufferSizes(this.#fd);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.stop();
    this.#native.closeFd(this.#fd);
    this.#waiting.length = 0;
  }

  #onBatch(count: number): void {
    this.stats.batches++;
    this.stats.datagrams += count;
    const meta = this.#inMeta;
    for (let i = 0; i < count; i++) {
      const m = i * META_STRIDE;
      const offset = meta[m]!;
      const msg = this.#in.subarray(offset, offset + meta[m + 1]!);
      let reply: ReturnType<UdpHandler>;
      try {
        reply = this.#handler(msg, this.#sourceOf(i));
      } catch (err) {
        // One bad datagram must not cost the rest of the batch their answers.
        this.#options.log.warn({ err: String(err) }, 'dns udp handler failed');
        continue;
      }
      if (reply === undefined) continue;
      if (!(reply instanceof Promise)) {
        this.#queue(reply, meta, m);
        continue;
      }
      const dest = meta.slice(m, m + META_STRIDE); // the batch's meta is reused
      reply.then(
        (r) => {
          if (r === undefined || this.#closed) return;
          this.#queue(r, dest, 0);
          this.#scheduleFlush();
        },
        (err: unknown) => this.#options.log.warn({ err: String(err) }, 'dns query failed'),
      );
    }
    this.#flush();
  }

  #sourceOf(i: number): string {
    const meta = this.#inMeta;
    const m = i * META_STRIDE + 2; // family, then port, then the address words
    const last = this.#lastAddr;
    if (
      meta[m] !== last[0] ||
      meta[m + 2] !== last[1] ||
      meta[m + 3] !== last[2] ||
      meta[m + 4] !== last[3] ||
      meta[m + 5] !== last[4]
    ) {
      last[0] = meta[m]!;
      last[1] = meta[m + 2]!;
      last[2] = meta[m + 3]!;
      last[3] = meta[m + 4]!;
      last[4] = meta[m + 5]!;
      this.#lastSource = this.#native.addressName(meta, i);
    }
    return this.#lastSource;
  }

  /** Appends a reply for the datagram described at meta[m..]: its source becomes the destination. */
  #queue(reply: Buffer, meta: Int32Array, m: number): void {
    if (this.#outCount === BATCH || this.#outBytes + reply.length > OUT_BYTES) this.#flush();
    const o = this.#outCount * META_STRIDE;
    const out = this.#outMeta;
    out[o] = this.#outBytes;
    out[o + 1] = reply.length;
    for (let k = 2; k < META_STRIDE; k++) out[o + k] = meta[m + k]!;
    this.#outBytes += reply.copy(this.#out, this.#outBytes);
    this.#outCount++;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const count = this.#outCount;
    if (count === 0) return;
    this.#outCount = 0;
    this.#outBytes = 0;
    if (this.#closed) return;
    if (this.#waiting.length > 0) {
      this.#wait(this.#out, this.#outMeta, count, 0);
      return;
    }
    const done = this.#send(this.#out, this.#outMeta, count, 0);
    if (done < count) {
      this.#wait(this.#out, this.#outMeta, count, done);
      this.#poller.watchWritable(true);
    }
  }

  /** Sends datagrams [from, count); returns the index it stopped at (count unless the send buffer is full). */
  #send(bytes: Buffer, meta: Int32Array, count: number, from: number): number {
    const view = from === 0 ? meta : meta.subarray(from * META_STRIDE);
    const done = from + this.#native.sendBatch(this.#fd, bytes, view, count - from, this.#status);
    this.stats.sends++;
    if (this.#status[0]! > 0) {
      this.stats.dropped += this.#status[0]!;
      this.#options.log.warn(
        { dropped: this.#status[0], errno: this.#status[1] },
        'dns udp replies could not be sent',
      );
    }
    return done;
  }

  /** Keeps a copy of datagrams [from, count) until the socket is writable. */
  #wait(bytes: Buffer, meta: Int32Array, count: number, from: number): void {
    const room = MAX_WAITING - this.#waitingCount;
    const keep = Math.min(count - from, room);
    this.stats.waited += count - from;
    if (keep < count - from) {
      this.stats.dropped += count - from - keep;
      this.#options.log.warn({ dropped: count - from - keep }, 'dns udp send queue full: replies dropped');
    }
    if (keep <= 0) return;
    const first = meta[from * META_STRIDE]!;
    const lastRow = (from + keep - 1) * META_STRIDE;
    const end = meta[lastRow]! + meta[lastRow + 1]!;
    const copyMeta = meta.slice(from * META_STRIDE, (from + keep) * META_STRIDE);
    for (let i = 0; i < keep; i++) copyMeta[i * META_STRIDE] = copyMeta[i * META_STRIDE]! - first;
    this.#waiting.push({
      bytes: Buffer.from(bytes.subarray(first, end)),
      meta: copyMeta,
      count: keep,
      next: 0,
    });
    this.#waitingCount += keep;
  }

  #onWritable(): void {
    while (this.#waiting.length > 0 && !this.#closed) {
      const w = this.#waiting[0]!;
      const done = this.#send(w.bytes, w.meta, w.count, w.next);
      this.#waitingCount -= done - w.next;
      w.next = done;
      if (done < w.count) return; // still full: stay subscribed
      this.#waiting.shift();
    }
    this.#poller.watchWritable(false);
  }
}
