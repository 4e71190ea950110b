import { parseEntries } from '../kubelet/container-log.js';
import { LogRenderer } from './pod-logs.js';

const log = Buffer.from(
  [
    '2026-12-07T10:00:00.000000000Z stdout F first',
    '2026-12-07T10:00:01.000000000Z stderr P long-',
    '2026-12-07T10:00:02.000000000Z stderr F line',
    '2026-12-07T10:00:03.000000000Z stdout F ',
    'not a CRI line',
    '',
  ].join('\n'),
);

describe('LogRenderer', () => {
  const render = (o: { timestamps?: boolean; sinceMs?: number }) =>
    Buffer.concat(
      new LogRenderer({ timestamps: o.timestamps ?? false, sinceMs: o.sinceMs }).lines(parseEntries(log)),
    ).toString();

  it('joins partial entries into their line and keeps empty lines and foreign text', () => {
    expect(render({})).toBe('first\nlong-line\n\nnot a CRI line\n');
  });

  it('prefixes each line with the time of its first entry (kubectl logs --timestamps)', () => {
    expect(render({ timestamps: true })).toBe(
      '2026-12-07T10:00:00.000000000Z first\n2026-12-07T10:00:01.000000000Z long-line\n2026-12-07T10:00:03.000000000Z \n not a CRI line\n',
    );
  });

  it('shows lines from the since time on (a line counts from its first piece)', () => {
    expect(render({ sinceMs: Date.parse('2026-12-07T10:00:01Z') })).toBe('long-line\n\n');
    expect(render({ sinceMs: Date.parse('2026-12-07T10:00:02Z') })).toBe('\n');
  });

  it('carries a line split across two reads (follow)', () => {
    const r = new LogRenderer({ timestamps: false, sinceMs: undefined });
    const entries = parseEntries(log);
    expect(Buffer.concat(r.lines(entries.slice(0, 2))).toString()).toBe('first\n');
    expect(Buffer.concat(r.lines(entries.slice(2, 3))).toString()).toBe('long-line\n');
  });
});
