/**
 * The logging surface dns-core needs: a subset of pino's Logger, so the client passes its pino child as is.
 * Structured fields first, message second.
 */
export interface DnsLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  /** Cheap guard for the per-query debug lines (pino has isLevelEnabled). */
  isLevelEnabled?(level: string): boolean;
}

/** Discards everything: the default when no logger is given. */
export const silentLogger: DnsLogger = {
  debug() {},
  info() {},
  warn() {},
  isLevelEnabled: () => false,
};
