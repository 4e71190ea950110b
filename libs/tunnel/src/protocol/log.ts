// The smallest logger surface the tunnel needs. pino's Logger satisfies it, and so does anything with
// child/debug/info/warn taking (fields, message); callers are never forced to use pino.

export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  debug(fields: Record<string, unknown>, message?: string): void;
  info(fields: Record<string, unknown>, message?: string): void;
  warn(fields: Record<string, unknown>, message?: string): void;
  /** pino's: lets a caller skip building a line nobody keeps. */
  isLevelEnabled?(level: string): boolean;
}

/** A logger that drops everything (the default when the caller passes none). */
export const silentLogger: Logger = {
  child: () => silentLogger,
  debug: () => {},
  info: () => {},
  warn: () => {},
};

export interface LogLine {
  level: 'debug' | 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string | undefined;
}

/** A logger that records lines in memory, for tests that assert on log output. */
export function memoryLogger(
  lines: LogLine[] = [],
  bindings: Record<string, unknown> = {},
): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, message?: string): void => {
      lines.push({ level, fields: { ...bindings, ...fields }, message });
    };
  return {
    lines,
    child: (more) => memoryLogger(lines, { ...bindings, ...more }),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
  };
}
