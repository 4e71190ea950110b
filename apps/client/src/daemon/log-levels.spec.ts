import { jest } from '@jest/globals';
import { pino } from 'pino';
import { LogLevels } from './log-levels.js';
import { parseLogLevelArgs } from '../cli/loglevel-command.js';

describe('run-time log levels', () => {
  afterEach(() => jest.useRealTimers());

  it('changes the root and every child made before or after, and returns to the level before after the duration', () => {
    jest.useFakeTimers();
    const levels = new LogLevels();
    const root = pino({ level: 'info', onChild: levels.onChild });
    levels.useRoot(root);
    const child = root.child({ component: 'session' });
    const grandchild = child.child({ component: 'vif' });
    expect(levels.set('debug', 30_000)).toBe('info');
    expect([root.level, child.level, grandchild.level]).toEqual(['debug', 'debug', 'debug']);
    jest.advanceTimersByTime(30_000);
    expect([root.level, child.level, grandchild.level]).toEqual(['info', 'info', 'info']);
    levels.set('warn', 0);
    jest.advanceTimersByTime(3_600_000);
    expect(grandchild.level).toBe('warn');
  });

  it('rejects an unknown level or duration with what to use', () => {
    const levels = new LogLevels(pino({ level: 'info' }));
    expect(() => levels.set('loud', 0)).toThrow('unknown log level "loud"');
    expect(parseLogLevelArgs('debug', '1m30s')).toEqual({ level: 'debug', durationMs: 90_000 });
    expect(() => parseLogLevelArgs('debug', 'soon')).toThrow(/--duration: invalid duration "soon"/);
    expect(() => parseLogLevelArgs('verbose', undefined)).toThrow(
      expect.objectContaining({ hint: expect.stringMatching(/^use one of trace, debug/) }),
    );
  });
});
