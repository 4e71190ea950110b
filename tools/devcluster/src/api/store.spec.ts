import { ApiError } from './errors.js';
import { Store } from './store.js';

describe('Store', () => {
  it('assigns uid, resourceVersion and generation on create and bumps them on change', () => {
    const s = new Store();
    const a = s.create('configmaps', { metadata: { name: 'a', namespace: 'default' }, data: { x: '1' } });
    expect(a.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.kind).toBe('ConfigMap');
    const rv = Number(a.metadata.resourceVersion);
    const b = s.update('configmaps', { ...a, data: { x: '2' } });
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(rv);
    expect(b.metadata.generation).toBe(2);
    expect(b.metadata.uid).toBe(a.metadata.uid);
  });

  it('rejects stale updates with a 409 Conflict and duplicates with AlreadyExists', () => {
    const s = new Store();
    const a = s.create('configmaps', { metadata: { name: 'a', namespace: 'default' } });
    s.update('configmaps', { ...a, data: { x: '1' } });
    expect(() => s.update('configmaps', { ...a, data: { x: '2' } })).toThrow(/the object has been modified/);
    expect(() => s.create('configmaps', { metadata: { name: 'a', namespace: 'default' } })).toThrow(
      'configmaps "a" already exists',
    );
  });

  it('does not bump the version for no-op updates', () => {
    const s = new Store();
    const a = s.create('configmaps', { metadata: { name: 'a', namespace: 'default' }, data: { x: '1' } });
    const b = s.update('configmaps', { ...a });
    expect(b.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
  });

  it('generates names from generateName and validates names', () => {
    const s = new Store();
    const a = s.create('pods', { metadata: { generateName: 'web-', namespace: 'default' } });
    expect(a.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(() => s.create('pods', { metadata: { name: 'Bad_Name' } })).toThrow(/RFC 1123/);
  });

  it('keeps status on main-resource updates and only changes it through the status subresource', () => {
    const s = new Store();
    const a = s.create('pods', {
      metadata: { name: 'p', namespace: 'default' },
      status: { phase: 'Pending' },
    });
    const b = s.update('pods', { ...a, status: { phase: 'Running' } });
    expect(b['status']).toEqual({ phase: 'Pending' });
    const c = s.update('pods', { ...b, status: { phase: 'Running' } }, { subresource: 'status' });
    expect(c['status']).toEqual({ phase: 'Running' });
  });

  it('replays events after a version and answers 410 once they are compacted', () => {
    const s = new Store({ historyLimit: 3 });
    const first = s.create('configmaps', { metadata: { name: 'a', namespace: 'default' } });
    const from = Number(first.metadata.resourceVersion);
    s.create('configmaps', { metadata: { name: 'b', namespace: 'default' } });
    expect(s.eventsSince('configmaps', from).map((e) => e.object.metadata.name)).toEqual(['b']);
    for (const n of ['c', 'd', 'e']) s.create('configmaps', { metadata: { name: n, namespace: 'default' } });
    let err: unknown;
    try {
      s.eventsSince('configmaps', from);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(410);
    expect((err as ApiError).message).toMatch(/too old resource version/);
  });

  it('lists sorted by namespace and name, filtered by namespace', () => {
    const s = new Store();
    s.create('configmaps', { metadata: { name: 'b', namespace: 'x' } });
    s.create('configmaps', { metadata: { name: 'a', namespace: 'y' } });
    s.create('configmaps', { metadata: { name: 'a', namespace: 'x' } });
    expect(s.list('configmaps').map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'x/a',
      'x/b',
      'y/a',
    ]);
    expect(s.list('configmaps', 'y')).toHaveLength(1);
  });
});
