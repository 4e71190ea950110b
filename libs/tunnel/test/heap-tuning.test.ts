// tuneHeapForStreaming() must reach V8 at run time: Node may freeze V8's flags after start-up, and then
// setFlagsFromString does nothing, silently. A child node prints the old generation's limits with
// --trace-gc-verbose (HeapController: "new limit: N KB (factor)") before and after the call.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HEAP_GROWING_PERCENT } from '../src/heap-tuning.js';

const built = pathToFileURL(path.join(process.cwd(), 'dist', 'heap-tuning.js')).href;

/** The growing factors V8 used in a child's full collections, in order, each marked before or after the call. */
function factors(): Array<{ when: string; factor: number }> {
  const script = `
    import { tuneHeapForStreaming } from ${JSON.stringify(built)};
    globalThis.live = Array.from({ length: 200000 }, (_, i) => ({ i }));
    console.log('before'); gc(); gc();
    tuneHeapForStreaming();
    console.log('after'); gc(); gc();`;
  const r = spawnSync(
    process.execPath,
    ['--trace-gc-verbose', '--expose-gc', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
    },
  );
  expect(r.status).toBe(0);
  let when = 'start';
  const out: Array<{ when: string; factor: number }> = [];
  for (const line of r.stdout.split('\n')) {
    if (line === 'before' || line === 'after') when = line;
    const m = /\[HeapController\] Limit: .*\(([\d.]+)\)$/.exec(line);
    if (m && when !== 'start') out.push({ when, factor: Number(m[1]) });
  }
  return out;
}

test('the heap growing factor is fixed at 1 + HEAP_GROWING_PERCENT/100 from the call on', () => {
  const seen = factors();
  const after = seen.filter((s) => s.when === 'after');
  expect(after.length).toBeGreaterThan(0);
  for (const s of after) expect(s.factor).toBe(1 + HEAP_GROWING_PERCENT / 100);
  // Before it V8 chose its own (4 here, for a heap that just grew): so the check above can fail.
  const before = seen.filter((s) => s.when === 'before');
  expect(before.length).toBeGreaterThan(0);
  for (const s of before) expect(s.factor).not.toBe(1 + HEAP_GROWING_PERCENT / 100);
});
