// Public API of @telepresence/exec: the one way the apps and libs run system commands.
export { run, CommandError } from './run.js';
export type { Run, RunOptions } from './run.js';
