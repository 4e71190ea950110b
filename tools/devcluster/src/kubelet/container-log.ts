// A container's output in the kubelet's CRI log format, one line per output line:
//   <RFC3339Nano time> <stdout|stderr> <F|P> <text>
// (P: a piece of a line longer than maxLineBytes, continued by the next entry), so that pods/log can
// answer `sinceSeconds`, `sinceTime` and `timestamps` like a real kubelet. Writes are synchronous
// appends to a file on tmpfs: nothing is pending when the run's log is rotated to `.previous`.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** The kubelet splits longer lines into P entries. */
export const maxLineBytes = 16 * 1024;

/** RFC 3339 with nanoseconds, as the CRI writes it (JavaScript has milliseconds). */
export function criTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class ContainerLog {
  private fd: number | undefined;
  private readonly partial = new Map<string, Buffer>();
  private open = 0;
  private readonly drainedWaiters: (() => void)[] = [];
  private readonly now: () => Date;

  constructor(file: string, options: { fresh?: boolean; now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
    this.fd = openSync(file, options.fresh ? 'w' : 'a', 0o644);
  }

  /** Copies a stream of the container into the log until it ends. */
  attach(stream: Readable, name: 'stdout' | 'stderr'): void {
    this.open++;
    stream.on('data', (chunk: Buffer) => this.write(name, chunk));
    stream.once('close', () => {
      this.flush(name);
      if (--this.open === 0) for (const w of this.drainedWaiters.splice(0)) w();
    });
    stream.on('error', () => {}); // the container's end of the pipe went away: 'close' follows
  }

  /** Resolves once every attached stream has ended, or after `ms` (a child process may hold them open). */
  drained(ms: number): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.drainedWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    for (const name of [...this.partial.keys()]) this.flush(name);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(name: string, chunk: Buffer): void {
    let data = this.partial.has(name) ? Buffer.concat([this.partial.get(name)!, chunk]) : chunk;
    this.partial.delete(name);
    for (;;) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) break;
      let line = data.subarray(0, nl);
      for (; line.length > maxLineBytes; line = line.subarray(maxLineBytes))
        this.entry(name, 'P', line.subarray(0, maxLineBytes));
      this.entry(name, 'F', line);
      data = data.subarray(nl + 1);
    }
    while (data.length >= maxLineBytes) {
      this.entry(name, 'P', data.subarray(0, maxLineBytes));
      data = data.subarray(maxLineBytes);
    }
    if (data.length > 0) this.partial.set(name, Buffer.from(data));
  }

  /** A last line without newline is written whole when its stream ends. */
  private flush(name: string): void {
    const rest = this.partial.get(name);
    this.partial.delete(name);
    if (rest && rest.length > 0) this.entry(name, 'F', rest);
  }

  private entry(name: string, tag: 'F' | 'P', text: Buffer): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, Buffer.concat([Buffer.from(`${criTime(this.now())} ${name} ${tag} `), text, nl]));
  }
}

const nl = Buffer.from('\n');

export interface LogEntry {
  readonly time: string;
  /** Milliseconds since the epoch, for `since` filters. */
  readonly ms: number;
  readonly stream: string;
  /** Whether the entry ends a line (F) or continues into the next (P). */
  readonly full: boolean;
  readonly text: Buffer;
}

/** Parses CRI log lines; lines that do not parse (a file written by something else) are kept as text. */
export function parseEntries(data: Buffer): LogEntry[] {
  const out: LogEntry[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    const line = data.subarray(start, end);
    start = end + 1;
    const s1 = line.indexOf(0x20);
    const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
    const time = s1 < 0 ? '' : line.subarray(0, s1).toString();
    const ms = Date.parse(time);
    const tag = s3 < 0 ? '' : line.subarray(s2 + 1, s3).toString();
    if (Number.isNaN(ms) || (tag !== 'F' && tag !== 'P')) {
      out.push({ time: '', ms: 0, stream: 'stdout', full: true, text: line });
      continue;
    }
    out.push({
      time,
      ms,
      stream: line.subarray(s1 + 1, s2).toString(),
      full: tag === 'F',
      text: line.subarray(s3 + 1),
    });
  }
  return out;
}
