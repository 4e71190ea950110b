import { createDeadline } from './deadline.js';

describe('createDeadline', () => {
  it('aborts on timeout and with the parent, and detaches on release', async () => {
    const parent = new AbortController();
    const timed = createDeadline(parent.signal, 10, 'test');
    await new Promise((r) => setTimeout(r, 30));
    expect(timed.signal.aborted).toBe(true);
    expect((timed.signal.reason as DOMException).name).toBe('TimeoutError');
    timed.release();

    const child = createDeadline(parent.signal, 10_000, 'test');
    const released = createDeadline(parent.signal, 10_000, 'test');
    released.release();
    parent.abort(new Error('closed'));
    expect(child.signal.aborted).toBe(true);
    expect(released.signal.aborted).toBe(false);
    child.release();
    expect(createDeadline(parent.signal, 10_000, 'test').signal.aborted).toBe(true);
  });
});
