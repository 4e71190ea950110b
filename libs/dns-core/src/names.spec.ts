import fc from 'fast-check';
import { hasLabel, hasLabelSuffix, normalizeDomain, stripLabelSuffix } from './names.js';

describe('names', () => {
  it.each([
    ['foo.ns1', 'ns1', true],
    ['ns1', 'ns1', true],
    ['foo.xns1', 'ns1', false],
    ['a.b.c', 'b.c', true],
    ['ab.c', 'b.c', false],
    ['x', '', false],
  ])('hasLabelSuffix(%s, %s) = %s', (name, suffix, want) => expect(hasLabelSuffix(name, suffix)).toBe(want));

  it('normalizes dots and case', () => expect(normalizeDomain(' .Cluster.LOCAL. ')).toBe('cluster.local'));
  it('finds labels anywhere', () => {
    expect(hasLabel('a.tel2-search.b', 'tel2-search')).toBe(true);
    expect(hasLabel('a.xtel2-search', 'tel2-search')).toBe(false);
  });
  it('strip is the inverse of appending a label suffix', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,10}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), label, (labels, suffix) => {
        const name = labels.join('.');
        expect(stripLabelSuffix(`${name}.${suffix}`, suffix)).toBe(name);
        expect(hasLabelSuffix(`${name}.${suffix}`, suffix)).toBe(true);
      }),
    );
  });
});
