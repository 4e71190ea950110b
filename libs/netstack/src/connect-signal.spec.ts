import { ConnectSignal } from './connect-signal.js';

describe('ConnectSignal', () => {
  it('runs every listener once, in order, with an abort event, and keeps the reason', () => {
    const s = new ConnectSignal();
    const seen: string[] = [];
    s.addEventListener('abort', (e) => seen.push(`fn ${e.type}`));
    s.addEventListener('abort', { handleEvent: (e) => seen.push(`object ${e.type}`) });
    const reason = new Error('gone');
    s.abort(reason);
    s.abort(new Error('again'));
    expect(seen).toEqual(['fn abort', 'object abort']);
    expect(s.aborted).toBe(true);
    expect(s.reason).toBe(reason);
  });

  it('a removed listener does not run; one alone or among several', () => {
    const s = new ConnectSignal();
    const seen: number[] = [];
    const one = (): number => seen.push(1);
    const two = { handleEvent: (): number => seen.push(2) };
    s.addEventListener('abort', one);
    s.removeEventListener('abort', one);
    s.addEventListener('abort', one);
    s.addEventListener('abort', two);
    s.removeEventListener('abort', one);
    s.abort(undefined);
    expect(seen).toEqual([2]);
  });
});
