import { ApiException } from '@kubernetes/client-node';
import pino from 'pino';

import { NamespaceWatch, type MappedNamespaces, type NamespaceSource } from './namespace-watch.js';

/** A source the test drives: list answers `names` (or throws `listError`); watch events are pushed. */
class FakeSource implements NamespaceSource {
  names: string[] = [];
  listError: unknown;
  lists = 0;
  private emit: ((type: 'ADDED' | 'DELETED', name: string) => void) | undefined;
  private end: ((err?: unknown) => void) | undefined;

  list() {
    this.lists++;
    if (this.listError !== undefined) return Promise.reject(this.listError);
    return Promise.resolve({ names: [...this.names], resourceVersion: String(this.lists) });
  }
  watch(_rv: string, onEvent: (type: 'ADDED' | 'DELETED', name: string) => void, signal: AbortSignal) {
    this.emit = onEvent;
    return new Promise<void>((resolve, reject) => {
      this.end = (err) => (err === undefined ? resolve() : reject(err as Error));
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  event(type: 'ADDED' | 'DELETED', name: string) {
    if (type === 'ADDED') this.names.push(name);
    else this.names = this.names.filter((n) => n !== name);
    this.emit?.(type, name);
  }
  fail(err: unknown) {
    this.end?.(err);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const forbidden = () =>
  new ApiException(
    403,
    'Forbidden',
    JSON.stringify({ message: 'namespaces is forbidden: User "dev" cannot list resource "namespaces"' }),
    {},
  );

describe('NamespaceWatch', () => {
  let source: FakeSource;
  let changes: MappedNamespaces[];
  let watch: NamespaceWatch | undefined;
  const start = (narrowTo: string[] = []) =>
    NamespaceWatch.start({
      source,
      connected: 'default',
      narrowTo,
      log: pino({ level: 'silent' }),
      onChange: (m) => changes.push(m),
      retryMs: { initial: 1, max: 5 },
    }).then((w) => (watch = w));

  beforeEach(() => {
    source = new FakeSource();
    source.names = ['default', 'shop', 'kube-system'];
    changes = [];
  });
  afterEach(() => watch?.stop());

  it('maps every namespace the user may list, and follows creations and deletions', async () => {
    await start();
    expect(watch!.current()).toEqual({
      namespaces: ['default', 'kube-system', 'shop'],
      reason: 'all namespaces you may list (followed as they are created and deleted)',
    });
    source.event('ADDED', 'team-d');
    expect(changes.at(-1)?.namespaces).toEqual(['default', 'kube-system', 'shop', 'team-d']);
    source.event('DELETED', 'shop');
    expect(watch!.current().namespaces).toEqual(['default', 'kube-system', 'team-d']);
    expect(changes).toHaveLength(2);
  });

  it('narrows to the --mapped-namespaces that exist, following them too', async () => {
    await start(['shop', 'later']);
    expect(watch!.current()).toEqual({
      namespaces: ['shop'],
      reason: 'narrowed by --mapped-namespaces / cluster.mappedNamespaces (not existing: later)',
    });
    source.event('ADDED', 'unrelated');
    expect(changes).toEqual([]);
    source.event('ADDED', 'later');
    expect(watch!.current().namespaces).toEqual(['later', 'shop']);
  });

  it('a user who may not list namespaces gets the connected namespace plus --mapped-namespaces, and why', async () => {
    source.listError = forbidden();
    await start(['shop']);
    expect(watch!.current()).toEqual({
      namespaces: ['default', 'shop'],
      reason:
        'you may not list namespaces (namespaces is forbidden: User "dev" cannot list resource "namespaces"): only the connected namespace and --mapped-namespaces are mapped',
    });
    await tick();
    expect(source.lists).toBe(1); // forbidden is not retried
  });

  it('lists again after the watch fails, and reports what changed meanwhile', async () => {
    await start();
    source.names.push('made-while-down');
    source.fail(new Error('watch broke'));
    await tick();
    expect(source.lists).toBeGreaterThanOrEqual(2);
    expect(watch!.current().namespaces).toContain('made-while-down');
    expect(changes.at(-1)?.namespaces).toContain('made-while-down');
  });

  it('when listing fails for another reason, falls back and recovers when it works', async () => {
    source.listError = new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    await start();
    expect(watch!.current().namespaces).toEqual(['default']);
    expect(watch!.current().reason).toBe(
      'namespaces could not be listed (the API server: connection refused (ECONNREFUSED)): only the connected namespace is mapped until they can',
    );
    source.listError = undefined;
    await tick();
    await tick();
    expect(watch!.current().namespaces).toEqual(['default', 'kube-system', 'shop']);
  });

  it('does not hold connect up when the API server does not answer the first list', async () => {
    source.list = () => new Promise(() => undefined);
    watch = await NamespaceWatch.start({
      source,
      connected: 'default',
      narrowTo: [],
      log: pino({ level: 'silent' }),
      onChange: () => undefined,
      firstListTimeoutMs: 10,
    });
    expect(watch.current()).toEqual({
      namespaces: ['default'],
      reason:
        'namespaces could not be listed (no answer in 10 ms): only the connected namespace is mapped until they can',
    });
  });
});
