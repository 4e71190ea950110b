import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';

describe('mergePatch (RFC 7386)', () => {
  it('merges maps, replaces lists and deletes nulls', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});

describe('jsonPatch (RFC 6902)', () => {
  it('applies add/replace/remove/move/copy/test', () => {
    const doc = { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'x' }] } };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/metadata/annotations', value: { 'k/v': '1' } },
      { op: 'add', path: '/spec/containers/-', value: { name: 'agent' } },
      { op: 'replace', path: '/metadata/labels/a', value: 'c' },
      { op: 'copy', from: '/metadata/labels/a', path: '/metadata/labels/d' },
      { op: 'test', path: '/metadata/annotations/k~1v', value: '1' },
      { op: 'remove', path: '/spec/containers/0' },
    ]);
    expect(out).toEqual({
      metadata: { labels: { a: 'c', d: 'c' }, annotations: { 'k/v': '1' } },
      spec: { containers: [{ name: 'agent' }] },
    });
    expect(doc.spec.containers).toHaveLength(1);
  });

  it('fails a failing test op with 422', () => {
    expect(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(
      /test operation does not apply/,
    );
  });
});

describe('strategicMergePatch', () => {
  const deployment = {
    metadata: { annotations: { keep: 'yes' } },
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
            { name: 'side', image: 'side:1' },
          ],
        },
      },
    },
  };

  it('merges lists by their merge keys, as kubectl apply sends them', () => {
    const out = strategicMergePatch(deployment, {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        template: {
          spec: {
            $setElementOrder_containers: undefined,
            '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }],
            containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '2' }] }],
          },
        },
      },
    }) as typeof deployment;
    const containers = out.spec.template.spec.containers;
    expect(containers.map((c) => c.name)).toEqual(['side', 'app']);
    expect(containers[1]).toEqual({
      name: 'app',
      image: 'app:2',
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ],
      ports: [{ containerPort: 80 }],
    });
    expect(out.metadata.annotations).toEqual({
      keep: 'yes',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    });
  });

  it('deletes list elements with $patch: delete and keys with null', () => {
    const out = strategicMergePatch(deployment, {
      metadata: { annotations: { keep: null } },
      spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } },
    }) as typeof deployment;
    expect(out.spec.template.spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(out.metadata.annotations).toEqual({});
  });

  it('replaces a map with $patch: replace and lists without merge keys', () => {
    const out = strategicMergePatch(
      { spec: { selector: { a: '1', b: '2' }, args: ['x'] } },
      {
        spec: { selector: { $patch: 'replace', c: '3' }, args: ['y'] },
      },
    );
    expect(out).toEqual({ spec: { selector: { c: '3' }, args: ['y'] } });
  });

  it('merges finalizers as a set and supports $deleteFromPrimitiveList', () => {
    const out = strategicMergePatch(
      { metadata: { finalizers: ['a', 'b'] } },
      { metadata: { finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] } },
    );
    expect(out).toEqual({ metadata: { finalizers: ['b', 'c'] } });
  });

  it('merges service ports by port and container ports by containerPort', () => {
    const out = strategicMergePatch(
      { spec: { ports: [{ port: 80, name: 'http' }] } },
      { spec: { ports: [{ port: 443, name: 'https' }] } },
    );
    expect(out).toEqual({
      spec: {
        ports: [
          { port: 80, name: 'http' },
          { port: 443, name: 'https' },
        ],
      },
    });
  });
});
