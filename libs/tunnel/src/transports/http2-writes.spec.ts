import { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import { SessionWrites } from './http2-writes.js';

const fakeSession = () => new EventEmitter() as unknown as Http2Session;

describe('SessionWrites', () => {
  it('finishes a completed write at once', () => {
    const writes = SessionWrites.of(fakeSession());
    const done: number[] = [];
    writes.settle(writes.start(), false, () => done.push(0));
    expect(done).toEqual([0]);
  });

  it('holds a write called back on a destroyed stream until a write started after it completes', () => {
    const writes = SessionWrites.of(fakeSession());
    const done: string[] = [];
    const a = writes.start();
    const b = writes.start(); // started before a was held: proves nothing about a
    writes.settle(a, true, () => done.push('a'));
    writes.settle(b, false, () => done.push('b'));
    expect(done).toEqual(['b']);
    const c = writes.start();
    writes.settle(c, true, () => done.push('c')); // held too
    const d = writes.start();
    writes.settle(d, false, () => done.push('d'));
    expect(done).toEqual(['b', 'd', 'a', 'c']);
  });

  it('finishes what it holds when the session closes, and later writes at once', () => {
    const session = fakeSession();
    const writes = SessionWrites.of(session);
    expect(SessionWrites.of(session)).toBe(writes);
    const done: string[] = [];
    writes.settle(writes.start(), true, () => done.push('a'));
    expect(done).toEqual([]);
    (session as unknown as EventEmitter).emit('close');
    expect(done).toEqual(['a']);
    writes.settle(writes.start(), true, () => done.push('b'));
    expect(done).toEqual(['a', 'b']);
  });
});
