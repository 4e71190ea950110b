import { AttemptSerializer } from './attempt-serializer.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('AttemptSerializer', () => {
  it('holds later attempts to the same key until the first settles, then lets them dial on success', async () => {
    const s = new AttemptSerializer();
    const first = deferred<string>();
    const dials: string[] = [];
    const a = s.attempt('198.18.1.5:80', () => {
      dials.push('a');
      return first.promise;
    });
    const b = s.attempt('198.18.1.5:80', async () => {
      dials.push('b');
      return 'b';
    });
    await tick();
    expect(dials).toEqual(['a']);
    expect(s.waiting).toBe(1);
    first.resolve('a');
    await expect(a).resolves.toBe('a');
    await expect(b).resolves.toBe('b');
    expect(dials).toEqual(['a', 'b']);
    expect(s.pendingKeys).toBe(0);
  });

  it("fails the waiters with the first attempt's error, without dialing", async () => {
    const s = new AttemptSerializer();
    const first = deferred<string>();
    const a = s.attempt('k', () => first.promise);
    let dialed = false;
    const waiters = [1, 2, 3].map(() =>
      s.attempt('k', async () => {
        dialed = true;
        return 'x';
      }),
    );
    const refused = new Error('connection refused');
    first.reject(refused);
    await expect(a).rejects.toBe(refused);
    for (const w of waiters) await expect(w).rejects.toBe(refused);
    expect(dialed).toBe(false);
  });

  it('does not serialize different keys', async () => {
    const s = new AttemptSerializer();
    const first = deferred<string>();
    const a = s.attempt('k1', () => first.promise);
    await expect(s.attempt('k2', async () => 'other')).resolves.toBe('other');
    first.resolve('a');
    await a;
  });

  it('ends a recursion loop: the recursive attempt waits for the one that caused it', async () => {
    const s = new AttemptSerializer();
    // The first dial "goes to the cluster", which sends the same attempt back to us and waits for it.
    let recursive: Promise<string> | undefined;
    const a = s.attempt('k', async () => {
      recursive = s.attempt('k', async () => 'never');
      await new Promise((r) => setTimeout(r, 10)); // the dial timeout of the first attempt
      throw new Error('dial timeout');
    });
    await expect(a).rejects.toThrow('dial timeout');
    await expect(recursive).rejects.toThrow('dial timeout');
  });

  it('lets a new attempt dial after a failure has settled', async () => {
    const s = new AttemptSerializer();
    await expect(s.attempt('k', async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    await expect(s.attempt('k', async () => 'yes')).resolves.toBe('yes');
  });
});
