// pods/log: a container's output (the kubelet's CRI log file), with `tailLines`, `sinceSeconds`,
// `sinceTime`, `timestamps`, `previous` (the last terminated run, or the apiserver's error when there is
// none) and `follow`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { parseEntries, type LogEntry } from '../kubelet/container-log.js';
import { ApiError, badRequest } from './errors.js';
import { field, str, type KubeObject } from './object.js';

export type PodLogFile = (
  namespace: string,
  name: string,
  container: string | undefined,
  previous?: boolean,
) => string | undefined;

export async function servePodLog(
  req: IncomingMessage,
  res: ServerResponse,
  pod: KubeObject,
  q: URLSearchParams,
  logFile: PodLogFile | undefined,
): Promise<void> {
  const render = new LogRenderer({ timestamps: q.get('timestamps') === 'true', sinceMs: sinceOf(q) });
  const ns = pod.metadata.namespace ?? 'default';
  const name = pod.metadata.name ?? '';
  const containers = field(pod, 'spec', 'containers');
  const container =
    q.get('container') ?? str(field(Array.isArray(containers) ? containers[0] : {}, 'name')) ?? '';
  const previous = q.get('previous') === 'true';
  const file = logFile?.(ns, name, container, previous);
  if (previous && (!file || !existsSync(file)))
    throw new ApiError(
      400,
      'BadRequest',
      `previous terminated container "${container}" in pod "${name}" not found`,
    );
  const tailParam = q.get('tailLines');
  const tail = tailParam === null ? undefined : Number(tailParam);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
    throw badRequest(`tailLines: Invalid value: "${tailParam ?? ''}": must be a non-negative integer`);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  if (!file) return void res.end();
  const text = await readFile(file).catch(() => Buffer.alloc(0));
  const complete = text.lastIndexOf(0x0a) + 1;
  const lines = render.lines(parseEntries(text.subarray(0, complete)));
  res.write(Buffer.concat(tail === undefined ? lines : lines.slice(Math.max(0, lines.length - tail))));
  if (q.get('follow') !== 'true' || previous) return void res.end();
  followFile(file, complete, render, req, res);
}

/** The earliest entry time to show, from sinceSeconds or sinceTime (validated like the apiserver). */
function sinceOf(q: URLSearchParams): number | undefined {
  const seconds = q.get('sinceSeconds');
  const time = q.get('sinceTime');
  if (seconds !== null && time !== null)
    throw badRequest('at most one of `sinceTime` or `sinceSeconds` may be specified');
  if (seconds !== null) {
    const n = Number(seconds);
    if (!Number.isInteger(n) || n < 1)
      throw badRequest(`sinceSeconds: Invalid value: ${seconds}: must be greater than 0`);
    return Date.now() - n * 1000;
  }
  if (time !== null) {
    const ms = Date.parse(time);
    if (Number.isNaN(ms)) throw badRequest(`sinceTime: Invalid value: "${time}": must be an RFC 3339 time`);
    return ms;
  }
  return undefined;
}

/** Turns log entries into output lines: P pieces joined, the `since` filter, optional timestamps. */
export class LogRenderer {
  private pending: LogEntry[] = [];

  constructor(private readonly o: { timestamps: boolean; sinceMs: number | undefined }) {}

  lines(entries: readonly LogEntry[]): Buffer[] {
    const out: Buffer[] = [];
    for (const e of entries) {
      this.pending.push(e);
      if (!e.full) continue;
      const first = this.pending[0]!;
      const text = Buffer.concat(this.pending.map((p) => p.text));
      this.pending = [];
      if (this.o.sinceMs !== undefined && first.ms < this.o.sinceMs) continue;
      out.push(
        Buffer.concat([this.o.timestamps ? Buffer.from(`${first.time} `) : Buffer.alloc(0), text, newline]),
      );
    }
    return out;
  }
}

const newline = Buffer.from('\n');

/** Streams what is appended to a file from `offset` until the client goes away (`kubectl logs -f`). */
function followFile(
  file: string,
  offset: number,
  render: LogRenderer,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  let busy = false;
  const pump = () => {
    if (busy) return;
    busy = true;
    stat(file)
      .then(async (st) => {
        if (st.size < offset) offset = 0; // replaced by a restart
        if (st.size <= offset) return;
        const fh = await open(file, 'r');
        try {
          const buf = Buffer.alloc(st.size - offset);
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          const complete = buf.subarray(0, bytesRead).lastIndexOf(0x0a) + 1;
          offset += complete;
          const lines = render.lines(parseEntries(buf.subarray(0, complete)));
          if (lines.length > 0) res.write(Buffer.concat(lines));
        } finally {
          await fh.close();
        }
      })
      .catch(() => {
        clearInterval(timer);
        res.end();
      })
      .finally(() => (busy = false));
  };
  const timer = setInterval(pump, 250);
  req.on('close', () => clearInterval(timer));
}
