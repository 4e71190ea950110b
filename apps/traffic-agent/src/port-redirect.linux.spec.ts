import { installRedirects, redirectScript } from './port-redirect.linux.js';

const p = (containerPort: number, agentPort: number, redirect: boolean) => ({
  serviceName: 's',
  servicePortName: '',
  servicePort: 80,
  targetPortName: '',
  containerPort,
  agentPort,
  redirect,
});

describe('port redirects for numeric target ports', () => {
  it('redirects only ports marked for it, replacing a stale table', () => {
    const script = redirectScript([p(8080, 9900, true), p(9000, 9901, false)]);
    expect(script).toContain('delete table inet telepresence_agent');
    expect(script).toContain('tcp dport 8080 redirect to :9900');
    expect(script).not.toContain('9000');
    expect(script).toContain('hook prerouting');
  });
  it('runs nothing when no port needs a redirect, and removes the table on undo', async () => {
    const scripts: string[] = [];
    const run = (s: string) => {
      scripts.push(s);
      return Promise.resolve();
    };
    await (
      await installRedirects([p(1, 2, false)], run)
    )();
    expect(scripts).toEqual([]);
    const undo = await installRedirects([p(1, 2, true)], run);
    await undo();
    expect(scripts).toHaveLength(2);
    expect(scripts[1]).toContain('delete table inet telepresence_agent');
  });
});
