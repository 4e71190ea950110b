// Runs in a process's network namespace (`ip netns exec NS node --experimental-websocket inspect-gc.js
// PORT [SNAPSHOT]`), next to a Node process whose inspector was opened with SIGUSR1: forces full GCs
// through the DevTools protocol, prints that process's process.memoryUsage() as one JSON line, and with
// SNAPSHOT writes a heap snapshot there (for `node tools/bench/dist/heap-summary.js`). Node 20's
// WebSocket is behind --experimental-websocket; the bench passes it.
import { createWriteStream } from 'node:fs';

interface MinimalWebSocket {
  onopen: (() => void) | null;
  onerror: ((e: unknown) => void) | null;
  onmessage: ((e: { data: string }) => void) | null;
  send(data: string): void;
  close(): void;
}
type WebSocketCtor = new (url: string) => MinimalWebSocket;

interface CdpReply {
  id?: number;
  method?: string;
  params?: { chunk?: string };
  result?: { result?: { value?: string } };
  error?: { message: string };
}

async function main(): Promise<void> {
  const [port = '9229', snapshot] = process.argv.slice(2);
  let list: Array<{ webSocketDebuggerUrl: string }> = [];
  for (let i = 0; i < 50 && list.length === 0; i++) {
    list = await fetch(`http://127.0.0.1:${port}/json/list`)
      .then((r) => r.json() as Promise<typeof list>)
      .catch(() => []);
    if (list.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const url = list[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector on 127.0.0.1:${port}`);
  const Ws = (globalThis as unknown as { WebSocket: WebSocketCtor }).WebSocket;
  const ws = new Ws(url);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`inspector connection failed: ${String(e)}`));
  });
  const pending = new Map<number, (r: CdpReply) => void>();
  const out = snapshot === undefined ? undefined : createWriteStream(snapshot);
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data) as CdpReply;
    if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') out?.write(msg.params?.chunk ?? '');
    if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  };
  let next = 1;
  const call = (method: string, params: object = {}): Promise<CdpReply> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, (r) => (r.error ? reject(new Error(`${method}: ${r.error.message}`)) : resolve(r)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  // Twice: the first pass may only free what weak references and finalizers then release.
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  if (out !== undefined) {
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise<void>((resolve) => out.end(resolve));
  }
  const usage = await call('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
    returnByValue: true,
  });
  console.log(usage.result?.result?.value ?? '{}');
  ws.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
