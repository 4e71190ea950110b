import { CommandError, run } from './run.js';

describe('run', () => {
  it('returns stdout and feeds stdin', async () => {
    expect(await run('sh', ['-c', 'echo out'])).toBe('out\n');
    expect(await run('cat', [], { input: 'table inet t {}\n' })).toBe('table inet t {}\n');
  });

  it('fails with the command line, the first stderr line and the exit code', async () => {
    const err = await run('sh', ['-c', 'echo "no such table" >&2; echo more >&2; exit 3']).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({
      exitCode: 3,
      command: 'sh -c echo "no such table" >&2; echo more >&2; exit 3',
    });
    expect((err as Error).message).toMatch(/^sh -c .*: no such table$/);
  });

  it('names a command that does not exist, and one that ran out of time', async () => {
    await expect(run('telepresence-no-such-command', ['x'])).rejects.toThrow(
      /^telepresence-no-such-command x: .*ENOENT/,
    );
    await expect(run('sleep', ['5'], { timeoutMs: 50 })).rejects.toBeInstanceOf(CommandError);
  });

  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    const pending = run('sleep', ['5'], { signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(CommandError);
  });
});
