// The one place that runs commands: every call gets a timeout, stdin, and an error naming the command.
// Used by the client (ip, nft, resolvectl...), the agent (nft) and libs/netstack (ip).
import { execFile } from 'node:child_process';

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type Run = (cmd: string, args: readonly string[], options?: RunOptions) => Promise<string>;

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | null,
    cause?: unknown,
  ) {
    super(`${command}: ${stderr.trim().split('\n')[0] || `exit code ${exitCode ?? 'unknown'}`}`, { cause });
  }
}

export const run: Run = (cmd, args, options = {}) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        timeout: options.timeoutMs ?? 15_000,
        maxBuffer: 16 * 1024 * 1024,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new CommandError(`${cmd} ${args.join(' ')}`, String(stderr) || error.message, code, error));
        } else {
          resolve(String(stdout));
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
