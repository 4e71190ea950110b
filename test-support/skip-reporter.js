// A jest reporter (jest.config.base.js): one line at the end of the run saying how many tests were
// skipped and why, read from the `[needs ...]` marker requirements.js puts in a skipped test's name.
// As root nothing may be skipped (CI runs as root and must test everything): a skipped test then fails
// the run. With TP_TEST_SKIPS_FILE set (run-tests.js, the root `npm test`) the counts are also appended
// there, for one line over every package at the very end.
import fs from 'node:fs';

const NEED = /\[needs ([a-z-]+)\]/;
const SKIPPED = new Set(['pending', 'skipped', 'todo', 'disabled']);

/**
 * `[reason, count]` pairs of the skipped tests of a run, and the total counts. `filtered`: the run selected
 * tests by name (`-t`), which skips the others.
 */
export function countSkips(testFileResults, filtered = false) {
  const reasons = new Map();
  let total = 0;
  let skipped = 0;
  for (const file of testFileResults) {
    for (const t of file.testResults) {
      total++;
      if (!SKIPPED.has(t.status)) continue;
      skipped++;
      const m = NEED.exec([...t.ancestorTitles, t.title].join(' '));
      const reason =
        m !== null ? `need ${m[1]}` : filtered ? 'not selected by -t' : `${t.status}, no reason given`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  return { total, skipped, reasons: [...reasons] };
}

export function skipLine({ total, skipped, reasons }) {
  if (skipped === 0) return `skipped tests: none of ${total}`;
  const needs = reasons.some(([r]) => r.startsWith('need '));
  const why = reasons.map(([r, n]) => `${n} ${r}`).join(', ');
  return `skipped tests: ${skipped} of ${total} (${why})${needs ? '; as root on Linux every test runs' : ''}`;
}

export default class SkipReporter {
  #error;
  #filtered;

  constructor(globalConfig) {
    this.#filtered = Boolean(globalConfig?.testNamePattern);
  }

  onRunComplete(_contexts, results) {
    const counts = countSkips(results.testResults, this.#filtered);
    process.stderr.write(`${skipLine(counts)}\n`);
    const file = process.env.TP_TEST_SKIPS_FILE;
    if (file) fs.appendFileSync(file, `${JSON.stringify({ cwd: process.cwd(), ...counts })}\n`);
    if (counts.skipped > 0 && !this.#filtered && process.getuid?.() === 0) {
      this.#error = new Error(
        `${counts.skipped} test(s) skipped as root: as root (CI) every test must run; remove the skip or its cause`,
      );
      process.stderr.write(`${this.#error.message}\n`);
    }
  }

  getLastError() {
    return this.#error;
  }
}
