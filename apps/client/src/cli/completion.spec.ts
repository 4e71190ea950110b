import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { buildProgram } from './program.js';

const program = () =>
  buildProgram({
    env: { TELEPRESENCE_RUN_DIR: '/nonexistent' },
    out: () => undefined,
    err: () => undefined,
    mainScript: '',
    isRoot: false,
    run: async () => '',
    quietLogger: () => pino({ level: 'silent' }),
    runDaemon: async () => undefined,
    runWatchdog: async () => undefined,
    runCredentialPlugin: async () => undefined,
    setExitCode: () => undefined,
  });

/** What bash completes for the words typed so far (the last one is being completed). */
function complete(script: string, words: string[]): string[] {
  const cmd = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _telepresence; echo "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
}

describe('telepresence completion', () => {
  let printed: string[];
  const run = async (...args: string[]) => {
    printed = [];
    const p = buildProgram({
      ...{
        env: { TELEPRESENCE_RUN_DIR: '/nonexistent' },
        mainScript: '',
        isRoot: false,
        run: async () => '',
        quietLogger: () => pino({ level: 'silent' }),
        runDaemon: async () => undefined,
        runWatchdog: async () => undefined,
        runCredentialPlugin: async () => undefined,
      },
      out: (t) => printed.push(t),
      err: (t) => printed.push(`ERR ${t}`),
      setExitCode: () => undefined,
    });
    await p.parseAsync(['node', 'telepresence', 'completion', ...args]);
    return printed.join('\n');
  };

  it('bash: completes commands and each command’s options, never the hidden ones', async () => {
    const script = await run('bash');
    expect(complete(script, ['telepresence', 'con'])).toEqual(['connect', 'config']);
    expect(complete(script, ['telepresence', 'config', ''])).toContain('view');
    expect(complete(script, ['telepresence', ''])).not.toContain('daemon-foreground');
    expect(complete(script, ['telepresence', 'connect', '--man'])).toEqual([
      '--manager-namespace',
      '--manager-address',
    ]);
    expect(complete(script, ['telepresence', 'intercept', '--p'])).toEqual(['--port']);
  });

  it('zsh: a #compdef script listing every visible command with its description', async () => {
    const script = await run('zsh');
    expect(script.startsWith('#compdef telepresence\n')).toBe(true);
    for (const c of program().commands.filter(
      (c) =>
        !['daemon-foreground', 'daemon-watchdog', 'daemon-start', 'run-credential-plugin'].includes(c.name()),
    ))
      expect(script).toContain(`'${c.name()}:`);
    expect(script).not.toContain('daemon-foreground');
    expect(script).not.toContain('run-credential-plugin');
  });

  it('an unknown shell is a clear error', async () => {
    expect(await run('fish')).toBe(
      'ERR telepresence completion: no completion for shell "fish"; use telepresence completion bash or telepresence completion zsh',
    );
  });
});
