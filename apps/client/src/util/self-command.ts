// How this program starts itself again (the CLI starts the daemon, the daemon its watchdog): from a
// checkout it is `node dist/main.js ...`; the packaged binary is the program itself (mainScript '').

/** The command and arguments that run this program with `args`. */
export function selfCommand(mainScript: string, args: readonly string[]): [string, string[]] {
  return [process.execPath, mainScript === '' ? [...args] : [mainScript, ...args]];
}
