// What a server logs for a call that never became a stream (calls.ts logHandshakeFailure).
import { logHandshakeFailure } from './calls.js';
import { TunnelError } from './protocol/errors.js';
import { memoryLogger } from './protocol/log.js';

describe('logHandshakeFailure', () => {
  it('a call that ended before its OPEN (a client gone, an unused spare request) is debug', () => {
    const log = memoryLogger();
    logHandshakeFailure(
      log,
      new TunnelError('transport', 'tunnel call ended by the peer during the handshake'),
    );
    expect(log.lines.map((l) => [l.level, l.message])).toEqual([
      ['debug', 'tunnel call ended before its OPEN'],
    ]);
  });

  it('anything else (a bad OPEN, a version mismatch, a timeout) is a warning with the reason', () => {
    const log = memoryLogger();
    logHandshakeFailure(log, new TunnelError('protocol', 'first message must be OPEN, got DATA'));
    logHandshakeFailure(log, new TunnelError('handshake-timeout', 'no OPEN from the peer within 10000 ms'));
    logHandshakeFailure(log, new Error('boom'));
    expect(log.lines.map((l) => [l.level, l.fields['err']])).toEqual([
      ['warn', 'first message must be OPEN, got DATA'],
      ['warn', 'no OPEN from the peer within 10000 ms'],
      ['warn', 'boom'],
    ]);
  });
});
