// Filters a multi-document YAML stream on stdin, dropping the kinds named in argv (e.g. the RBAC kinds a
// simulated cluster does not serve). Prints what it drops on stderr.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const drop = new Set(process.argv.slice(2));
const kept = [];
for (const doc of parseAllDocuments(readFileSync(0, 'utf8'))) {
  const obj = doc.toJS();
  if (obj === null || obj === undefined) continue;
  if (drop.has(obj.kind)) {
    process.stderr.write(`  (skipping ${obj.kind} ${obj.metadata?.name ?? ''}: not served by devcluster)\n`);
    continue;
  }
  kept.push(doc.toString());
}
process.stdout.write(kept.join('---\n'));
