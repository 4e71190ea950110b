// Types of requirements.js (a plain module so that every package's tests can import it from outside their
// rootDir; see there).

/** A need a test may have of the machine. */
export type Need = 'root' | 'linux';

export interface Requirement {
  /** True when the machine has it: the tests run. */
  readonly met: boolean;
  /** Why a test needs it (the reporter's summary says it). */
  readonly why: string;
  /** `describe` when met, else a skip whose name says what was missing. */
  readonly describe: (name: string, fn: () => void) => void;
  /** `it` when met, else a skip whose name says what was missing. */
  readonly it: (name: string, fn: jest.ProvidesCallback, timeout?: number) => void;
}

export function needs(need: Need): Requirement;
/** The marker a skipped test carries in its name (`[needs root]`). */
export function needTag(need: Need): string;
