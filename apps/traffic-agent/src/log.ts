// The logger surface the agent uses. pino's Logger satisfies it, so does libs/tunnel's memoryLogger in tests.
import type { Logger as TunnelLogger } from '@telepresence/tunnel';

export interface Logger extends TunnelLogger {
  child(bindings: Record<string, unknown>): Logger;
  error(fields: Record<string, unknown>, message?: string): void;
}

/** Adapts a tunnel-style logger (no `error`) for tests: errors are logged as warnings. */
export function fromTunnelLogger(log: TunnelLogger): Logger {
  return {
    child: (b) => fromTunnelLogger(log.child(b)),
    debug: (f, m) => log.debug(f, m),
    info: (f, m) => log.info(f, m),
    warn: (f, m) => log.warn(f, m),
    error: (f, m) => log.warn({ ...f, level: 'error' }, m),
  };
}
