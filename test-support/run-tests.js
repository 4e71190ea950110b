// `npm test`: every package's tests (nx), then one line over all of them saying how many tests were
// skipped and why (each jest run's skip reporter appends its counts to a file this names).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { skipLine } from './skip-reporter.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-test-skips-'));
const file = path.join(dir, 'skips.jsonl');
const run = spawnSync('npx', ['nx', 'run-many', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TP_TEST_SKIPS_FILE: file },
});
const runs = fs.existsSync(file)
  ? fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l))
  : [];
fs.rmSync(dir, { recursive: true, force: true });
const reasons = new Map();
for (const r of runs)
  for (const [reason, n] of r.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
const total = runs.reduce((n, r) => n + r.total, 0);
const skipped = runs.reduce((n, r) => n + r.skipped, 0);
console.log(
  `\nall packages (${runs.length} jest runs): ${skipLine({ total, skipped, reasons: [...reasons] })}`,
);
process.exit(run.status ?? 1);
