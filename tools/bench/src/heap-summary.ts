// Where a process's heap went between two heap snapshots (inspect-gc.ts writes them): the self size
// and count of objects by type and constructor (or closure, or string) in AFTER minus BEFORE, largest
// first, per connection when N is given. A profiling aid for the memory benchmark:
// `node tools/bench/dist/heap-summary.js BEFORE AFTER [N] [ROWS]`.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Totals = Map<string, { count: number; bytes: number }>;

function totals(file: string): Totals {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out: Totals = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!] ?? '?';
    const name = s.strings[s.nodes[i + nameAt]!] ?? '?';
    // Strings and numbers by type only: their "name" is their value.
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : type;
    const t = out.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += s.nodes[i + sizeAt]!;
    out.set(key, t);
  }
  return out;
}

const [before, after, n = '1', rows = '40'] = process.argv.slice(2);
if (before === undefined || after === undefined) {
  console.error('usage: heap-summary BEFORE AFTER [N] [ROWS]');
  process.exit(2);
}
const a = totals(before);
const b = totals(after);
const per = Number(n);
const diff = [...b].map(([key, t]) => {
  const was = a.get(key) ?? { count: 0, bytes: 0 };
  return { key, count: t.count - was.count, bytes: t.bytes - was.bytes };
});
diff.sort((x, y) => y.bytes - x.bytes);
let sum = 0;
for (const d of diff) sum += d.bytes;
console.log(
  `heap self size delta: ${(sum / 1024 / 1024).toFixed(1)} MiB, ${(sum / per).toFixed(0)} B per unit`,
);
console.log('bytes/unit  count/unit  type name');
for (const d of diff.slice(0, Number(rows))) {
  console.log(
    `${(d.bytes / per).toFixed(0).padStart(10)}  ${(d.count / per).toFixed(2).padStart(10)}  ${d.key.slice(0, 100)}`,
  );
}
