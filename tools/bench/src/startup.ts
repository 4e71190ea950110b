// Start-up time of the packaged client (issue 20): wall time of `telepresence version` and of
// `telepresence status` with no daemon, for the packaged binary (/usr/bin/telepresence when the .deb is
// installed, else dist/package/telepresence from `npm run package`), the checkout's `node dist/main.js`,
// and `node -e 0` as the floor, in one run. Goal: at most 200 ms each.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, loadavg, median, printTable, timeRuns, type BenchSuite } from './report.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const RUNS = 15;

function packagedBinary(): string | undefined {
  return ['/usr/bin/telepresence', path.join(repo, 'dist/package/telepresence')].find((f) =>
    fs.existsSync(f),
  );
}

const suite: BenchSuite = {
  name: 'startup',
  async run() {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-startup-')); // no daemon here
    const env = { ...process.env, TELEPRESENCE_RUN_DIR: runDir };
    const time = async (cmd: string, args: string[]) =>
      median(await timeRuns(() => execFileSync(cmd, args, { env, stdio: 'ignore' }), RUNS, 2));
    const binary = packagedBinary();
    const main = path.join(repo, 'apps/client/dist/main.js');
    const rows: string[][] = [['node -e 0 (floor)', fmt(await time(process.execPath, ['-e', '0']), 0), '']];
    for (const [label, cmd, pre] of [
      ...(binary === undefined ? [] : [[`packaged ${binary}`, binary, []] as const]),
      ['node apps/client/dist/main.js', process.execPath, [main]] as const,
    ]) {
      rows.push([
        label,
        fmt(await time(cmd, [...pre, 'version']), 0),
        fmt(await time(cmd, [...pre, 'status']), 0),
      ]);
    }
    fs.rmSync(runDir, { recursive: true, force: true });
    if (binary === undefined) console.log('(no packaged binary: run npm run package to include it)');
    printTable(
      `telepresence start-up, median of ${RUNS} runs, ms (load ${loadavg()}); goal <= 200`,
      ['command', 'version', 'status (not connected)'],
      rows,
    );
  },
};

export default suite;
