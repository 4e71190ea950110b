import { EventEmitter } from 'node:events';

import { endQuietlyOnEpipe } from './epipe.js';

describe('endQuietlyOnEpipe', () => {
  it('exits 0 on EPIPE', () => {
    const stdout = new EventEmitter();
    const exits: number[] = [];
    endQuietlyOnEpipe([stdout], (c) => exits.push(c));
    stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(exits).toEqual([0]);
  });

  it('does not hide other write errors', () => {
    const stdout = new EventEmitter();
    endQuietlyOnEpipe([stdout], () => undefined);
    expect(() => stdout.emit('error', Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toThrow(
      'no space',
    );
  });
});
