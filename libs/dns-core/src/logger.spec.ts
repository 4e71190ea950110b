import { rateLimitWarnings } from './logger.js';

it('limits warnings per window and reports the suppressed count', () => {
  let now = 0;
  const lines: object[] = [];
  const log = rateLimitWarnings({ debug() {}, info() {}, warn: (f) => lines.push(f) }, 1000, 2, () => now);
  for (let i = 0; i < 5; i++) log.warn({ i }, 'x');
  expect(lines).toEqual([{ i: 0 }, { i: 1 }]);
  now = 1000;
  log.warn({ i: 5 }, 'x');
  expect(lines[2]).toEqual({ i: 5, suppressed: 3 });
});
