// One error type for everything the user sees. The category decides how the CLI presents it: a `config` or
// `user` error is the user's to fix (no "see the logs"), a `cluster` error names the cluster side, and an
// `internal` error points at the daemon log.

export type ErrorCategory = 'user' | 'config' | 'cluster' | 'internal';

export class TpError extends Error {
  override readonly name = 'TpError';
  readonly category: ErrorCategory;
  /** One short sentence saying what to do; empty when there is nothing obvious. */
  readonly hint: string;

  constructor(category: ErrorCategory, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.category = category;
    this.hint = options.hint ?? '';
  }

  /** Normalises anything thrown into a TpError, keeping the original as cause. */
  static from(reason: unknown, category: ErrorCategory = 'internal'): TpError {
    if (reason instanceof TpError) return reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    return new TpError(category, message, { cause: reason });
  }
}

/** The one line shown to users: the message, then the hint after a semicolon. */
export function errorLine(err: TpError): string {
  return err.hint === '' ? err.message : `${err.message}; ${err.hint}`;
}
