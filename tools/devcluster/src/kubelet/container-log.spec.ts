import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ContainerLog, criTime, maxLineBytes, parseEntries } from './container-log.js';

describe('ContainerLog', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'clog-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const at = new Date('2026-12-07T10:00:00.123Z');

  it('writes each line of each stream as a CRI entry; a line split over writes stays one entry', async () => {
    const file = path.join(dir, 'c.log');
    const log = new ContainerLog(file, { now: () => at });
    const out = new PassThrough();
    const err = new PassThrough();
    log.attach(out, 'stdout');
    log.attach(err, 'stderr');
    out.write('hel');
    out.write('lo\nworld\n');
    err.write('oops\nno newline');
    out.end();
    err.end();
    await log.drained(1000);
    log.close();
    expect(await readFile(file, 'utf8')).toBe(
      [
        '2026-12-07T10:00:00.123000000Z stdout F hello',
        '2026-12-07T10:00:00.123000000Z stdout F world',
        '2026-12-07T10:00:00.123000000Z stderr F oops',
        '2026-12-07T10:00:00.123000000Z stderr F no newline',
        '',
      ].join('\n'),
    );
  });

  it('splits a line longer than 16 KiB into P entries that read back as the line', async () => {
    const file = path.join(dir, 'c.log');
    const log = new ContainerLog(file);
    const out = new PassThrough();
    log.attach(out, 'stdout');
    const long = 'x'.repeat(maxLineBytes * 2 + 5);
    out.end(`${long}\n`);
    await log.drained(1000);
    log.close();
    const entries = parseEntries(await readFile(file));
    expect(entries.map((e) => e.full)).toEqual([false, false, true]);
    expect(Buffer.concat(entries.map((e) => e.text)).toString()).toBe(long);
  });

  it('drained() gives up after the time limit while a stream stays open', async () => {
    const log = new ContainerLog(path.join(dir, 'c.log'));
    log.attach(new PassThrough(), 'stdout');
    const t0 = Date.now();
    await log.drained(50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    log.close();
  });

  it('criTime has nanosecond precision like the CRI', () => {
    expect(criTime(at)).toBe('2026-12-07T10:00:00.123000000Z');
  });
});
