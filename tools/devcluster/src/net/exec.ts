// Runs system commands (ip, nft, openssl) and reports failures with the command line and stderr.
import { spawn } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${code ?? 'signal'}): ${stderr.trim()}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  readonly input?: string;
  /** Resolve with the output instead of throwing on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export function run(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new CommandError([cmd, ...args].join(' '), null, err.message)));
    child.on('close', (code) => {
      if (code !== 0 && !options.allowFailure)
        reject(new CommandError([cmd, ...args].join(' '), code, stderr));
      else resolve({ stdout, stderr, code });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the command may exit without reading its input
      child.stdin.end(options.input);
    }
  });
}

/** `ip -batch -` with one command per line, optionally inside a namespace. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  await run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
}

export async function nft(script: string, netns?: string): Promise<void> {
  if (netns) await run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { input: script });
  else await run('nft', ['-f', '-'], { input: script });
}
