import { Readable } from 'node:stream';
import { decodeLaunch, encodeLaunch, runPluginStage } from './plugin-stage.js';

const input = (text: string) => Readable.from([text]);

describe('the second stage of a plugin run as the user', () => {
  it('round-trips the launch and refuses anything else', () => {
    const l = { command: 'aws', args: ['eks'], env: { A: 'b' } };
    expect(decodeLaunch(encodeLaunch(l))).toEqual(l);
    for (const bad of [
      '{}',
      '{"command":"x","args":[1],"env":{}}',
      '{"command":"x","args":[],"env":{"A":1}}',
    ])
      expect(() => decodeLaunch(bad)).toThrow(/expected \{"command"/);
  });

  it('runs the plugin with the given environment and returns its exit status', async () => {
    const errors: string[] = [];
    const code = await runPluginStage(
      input(
        encodeLaunch({
          command: 'sh',
          args: ['-c', 'test "$X" = y && exit 7'],
          env: { PATH: '/usr/bin:/bin', X: 'y' },
        }),
      ),
      (t) => errors.push(t),
    );
    expect(code).toBe(7);
    expect(errors).toEqual([]);
  });

  it('says why it could not run the plugin', async () => {
    const errors: string[] = [];
    expect(await runPluginStage(input('not json'), (t) => errors.push(t))).toBe(126);
    expect(
      await runPluginStage(input(encodeLaunch({ command: '/nonexistent/p', args: [], env: {} })), (t) =>
        errors.push(t),
      ),
    ).toBe(127);
    expect(errors[0]).toMatch(/^telepresence run-credential-plugin: /);
    expect(errors[1]).toMatch(/^\/nonexistent\/p: spawn \/nonexistent\/p ENOENT/);
  });
});
