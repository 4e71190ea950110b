import { parseDurationMs, parseSizeBytes, splitList } from './units.js';

describe('units', () => {
  it.each([
    ['15s', 15_000],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2', 2000],
    ['0.5s', 500],
  ])('duration %s = %d ms', (s, ms) => expect(parseDurationMs(s)).toBe(ms));

  it.each(['', 'abc', '5 parsecs', '1d'])('rejects duration %p', (s) =>
    expect(() => parseDurationMs(s)).toThrow(/invalid duration/),
  );

  it.each([
    ['4Mi', 4 * 1024 * 1024],
    ['512Ki', 512 * 1024],
    ['4M', 4_000_000],
    ['1048576', 1048576],
  ])('size %s = %d bytes', (s, n) => expect(parseSizeBytes(s)).toBe(n));

  it('rejects bad sizes', () => expect(() => parseSizeBytes('4 MB')).toThrow(/invalid size/));

  it('splits lists on spaces and commas', () => expect(splitList(' a b,c  ')).toEqual(['a', 'b', 'c']));
});
