// The second stage of running a credential plugin as the daemon's owner (`telepresence
// run-credential-plugin`, hidden). The first stage, setpriv, runs as root until it drops to the owner, so
// it gets an environment with nothing the user chose (LD_PRELOAD and the like would load into a root
// process); this stage, already the owner, reads the plugin's command, arguments and the user's
// environment on stdin and runs it with them. Its stdout and stderr are the plugin's.
import { spawn } from 'node:child_process';

export interface PluginLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** What the first stage writes on the second stage's stdin. */
export const encodeLaunch = (l: PluginLaunch): string => JSON.stringify(l);

export function decodeLaunch(text: string): PluginLaunch {
  const o = JSON.parse(text) as Partial<PluginLaunch>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.command !== 'string' ||
    o.command === '' ||
    !strings(o.args) ||
    typeof o.env !== 'object' ||
    o.env === null ||
    !Object.values(o.env).every((v) => typeof v === 'string')
  )
    throw new Error('expected {"command": string, "args": [string], "env": {string: string}} on stdin');
  return { command: o.command, args: o.args, env: o.env };
}

/** Reads the launch from `input`, runs it, resolves with its exit status (126/127 when it cannot). */
export async function runPluginStage(
  input: NodeJS.ReadableStream,
  err: (text: string) => void,
): Promise<number> {
  let text = '';
  for await (const chunk of input) text += String(chunk);
  let launch: PluginLaunch;
  try {
    launch = decodeLaunch(text);
  } catch (e) {
    err(`telepresence run-credential-plugin: ${(e as Error).message}`);
    return 126;
  }
  const child = spawn(launch.command, [...launch.args], {
    env: { ...launch.env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise<number>((resolve) => {
    child.once('error', (e) => {
      err(`${launch.command}: ${e.message}`);
      resolve((e as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126);
    });
    child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}
