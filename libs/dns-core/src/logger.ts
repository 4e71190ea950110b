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

/**
 * Wraps a logger so that warn lines (which can fire per query when the cluster or the fallback is down) are
 * limited to `burst` per `perMs`; the next line after a quiet period reports how many were suppressed.
 */
export function rateLimitWarnings(
  log: DnsLogger,
  perMs = 10_000,
  burst = 10,
  now: () => number = Date.now,
): DnsLogger {
  let windowStart = 0;
  let count = 0;
  let suppressed = 0;
  const limited: DnsLogger = {
    debug: (f, m) => log.debug(f, m),
    info: (f, m) => log.info(f, m),
    warn: (fields, message) => {
      const t = now();
      if (t - windowStart >= perMs) {
        windowStart = t;
        count = 0;
      }
      if (count >= burst) {
        suppressed++;
        return;
      }
      count++;
      log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, message);
      suppressed = 0;
    },
  };
  if (log.isLevelEnabled) limited.isLevelEnabled = (level) => log.isLevelEnabled!(level);
  return limited;
}
