import { jest } from '@jest/globals';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { refreshAfterSeconds, TokenRotation, writeInContainer, type RotatedToken } from './token-rotation.js';

describe('refreshAfterSeconds', () => {
  it('is the share of the lifetime, at most 24 h (the real kubelet: 80%)', () => {
    expect(refreshAfterSeconds(600, 0.8)).toBe(480);
    expect(refreshAfterSeconds(3607, 0.8)).toBeCloseTo(2885.6);
    expect(refreshAfterSeconds(7 * 24 * 3600, 0.8)).toBe(24 * 3600);
  });
});

describe('TokenRotation', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const token: RotatedToken = {
    file: '/run/t/token',
    mirror: '/pods/p/mounts/c/run/t/token',
    audience: 'aud',
    expirationSeconds: 600,
  };

  function rotation(write: (token: RotatedToken, content: string) => Promise<void>) {
    let n = 0;
    const logs: string[] = [];
    const r = new TokenRotation([token], {
      fraction: 0.8,
      mint: (t) => `${t.audience ?? ''}-${++n}`,
      write,
      log: (m) => logs.push(m),
    });
    return { r, logs };
  }

  it('writes a new token after 80% of its lifetime, and again after each refresh, until stopped', async () => {
    const written: string[] = [];
    const { r } = rotation(async (t, content) => void written.push(`${t.file}=${content}`));
    await jest.advanceTimersByTimeAsync(479_000);
    expect(written).toEqual([]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(written).toEqual(['/run/t/token=aud-1']);
    await jest.advanceTimersByTimeAsync(480_000);
    expect(written).toEqual(['/run/t/token=aud-1', '/run/t/token=aud-2']);
    r.stop();
    await jest.advanceTimersByTimeAsync(2_000_000);
    expect(written).toHaveLength(2);
  });

  it('a failed write is logged and tried again at the next refresh', async () => {
    let fail = true;
    const written: string[] = [];
    const { r, logs } = rotation(async (_f, content) => {
      if (fail) throw new Error('/run/t is not mounted yet');
      written.push(content);
    });
    await jest.advanceTimersByTimeAsync(480_000);
    expect(logs).toEqual(['kubelet: refreshing token /run/t/token: /run/t is not mounted yet']);
    fail = false;
    await jest.advanceTimersByTimeAsync(480_000);
    expect(written).toEqual(['aud-2']);
    r.stop();
  });
});

describe('writeInContainer', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'rotate-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('replaces the file through /proc/<pid>/root by rename, leaving no temporary file', async () => {
    await writeInContainer(process.pid, path.join(dir, 'token'), 'one');
    await writeInContainer(process.pid, path.join(dir, 'token'), 'two');
    expect(await readFile(path.join(dir, 'token'), 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['token']);
  });

  it('refuses a directory that does not exist there (the container has not mounted its /run yet)', async () => {
    await expect(writeInContainer(process.pid, path.join(dir, 'missing', 'token'), 'x')).rejects.toThrow(
      `${path.join(dir, 'missing')} is not mounted yet`,
    );
  });
});
