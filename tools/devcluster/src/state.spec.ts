// processRuns: a zombie is gone (the supervisor killed with -9 stays one until its parent reaps it).
import { spawn } from 'node:child_process';
import { processRuns } from './state.js';

describe('processRuns', () => {
  it('is true for a running process, false for a zombie that signal 0 still reaches, and for no process', async () => {
    // A parent that forks a child which exits at once and is never waited for: a zombie while the parent lives.
    const parent = spawn('python3', [
      '-c',
      'import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)',
    ]);
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      for (let i = 0; i < 100 && processRuns(zombie); i++) await new Promise((r) => setTimeout(r, 10));
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(processRuns(zombie)).toBe(false);
      expect(processRuns(parent.pid!)).toBe(true);
      expect(processRuns(process.pid)).toBe(true);
      expect(processRuns(2 ** 22 + 1)).toBe(false); // above pid_max
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
