// `telepresence loglevel`: a pino child logger keeps the level it was created with, so changing the
// daemon's level at run time means changing it on the root and on every child made since (pino's onChild).
import type { Logger } from 'pino';
import { TpError } from '../util/errors.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export class LogLevels {
  private readonly loggers = new Set<Logger>();
  private timer: NodeJS.Timeout | undefined;

  /** Pass as pino's onChild option of the root logger. */
  readonly onChild = (child: Logger): void => {
    this.loggers.add(child);
  };

  /** root: the root logger; or set it with useRoot once made (its onChild option needs this object first). */
  constructor(private root?: Logger) {}

  useRoot(root: Logger): void {
    this.root = root;
  }

  /** Sets the level everywhere; after durationMs (if > 0) the level before returns. Returns that level. */
  set(level: string, durationMs: number): string {
    if (!(LOG_LEVELS as readonly string[]).includes(level))
      throw new TpError('user', `unknown log level "${level}"`, {
        hint: `use one of ${LOG_LEVELS.join(', ')}`,
      });
    if (this.root === undefined) throw new Error('LogLevels: no root logger');
    const previous = this.root.level;
    this.apply(level);
    clearTimeout(this.timer);
    this.timer = undefined;
    if (durationMs > 0) {
      this.timer = setTimeout(() => this.apply(previous), durationMs);
      this.timer.unref();
    }
    return previous;
  }

  private apply(level: string): void {
    if (this.root !== undefined) this.root.level = level;
    for (const l of this.loggers) l.level = level;
  }
}
