// Commands run through libs/exec (the one runner); re-exported so client modules and their tests keep one
// import path.
export { run, CommandError, type Run, type RunOptions } from '@telepresence/exec';
