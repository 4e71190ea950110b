// pods/log: a container's output file, with `tailLines`, `previous` (the last terminated run, or the
// apiserver's error when there is none) and `follow`. devcluster keeps no per-line timestamps, so
// `sinceSeconds`, `sinceTime` and `timestamps` answer 400 with a clear message instead of being ignored.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
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
  for (const unsupported of ['sinceSeconds', 'sinceTime', 'timestamps']) {
    if (q.has(unsupported) && q.get(unsupported) !== 'false')
      throw badRequest(
        `devcluster keeps no timestamps for container output: ${unsupported} (kubectl logs --since/--since-time/--timestamps) is not supported`,
      );
  }
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
  const start = tail === undefined ? 0 : tailStart(text, tail);
  res.write(text.subarray(start));
  if (q.get('follow') !== 'true' || previous) return void res.end();
  followFile(file, text.length, req, res);
}

/** Offset of the last `n` lines (a final line without newline counts). */
export function tailStart(text: Buffer, n: number): number {
  if (n === 0) return text.length;
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  let seen = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (text[i] === 0x0a && ++seen === n) return i + 1;
  }
  return 0;
}

/** Streams what is appended to a file from `offset` until the client goes away (`kubectl logs -f`). */
function followFile(file: string, offset: number, req: IncomingMessage, res: ServerResponse): void {
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
          offset += bytesRead;
          res.write(buf.subarray(0, bytesRead));
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
