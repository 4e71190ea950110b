import { matches, parseFieldSelector, parseLabelSelector } from './selectors.js';

describe('label selectors', () => {
  const labels = { app: 'echo', tier: 'web' };
  it.each([
    ['app=echo', true],
    ['app==echo,tier=web', true],
    ['app!=echo', false],
    ['app in (a, echo)', true],
    ['app notin (echo)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=echo,missing', false],
  ])('%s -> %s', (sel, want) => {
    expect(matches(parseLabelSelector(sel), labels)).toBe(want);
  });

  it('rejects garbage with a 400', () => {
    expect(() => parseLabelSelector('a b c')).toThrow(/unable to parse requirement/);
  });
});

describe('field selectors', () => {
  it('matches nested fields', () => {
    const f = parseFieldSelector('spec.nodeName=node-1,status.phase!=Failed');
    expect(f({ metadata: {}, spec: { nodeName: 'node-1' }, status: { phase: 'Running' } })).toBe(true);
    expect(f({ metadata: {}, spec: { nodeName: 'node-2' } })).toBe(false);
  });
});
