import { tailStart } from './pod-logs.js';

describe('tailStart', () => {
  const text = Buffer.from('a\nb\nc\n');
  it.each([
    [0, ''],
    [1, 'c\n'],
    [2, 'b\nc\n'],
    [3, 'a\nb\nc\n'],
    [10, 'a\nb\nc\n'],
  ])('last %i lines', (n, want) => {
    expect(text.subarray(tailStart(text, n)).toString()).toBe(want);
  });
  it('counts a last line without newline', () => {
    const t = Buffer.from('a\nb');
    expect(t.subarray(tailStart(t, 1)).toString()).toBe('b');
  });
});
