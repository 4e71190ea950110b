import { formatList, interceptMessage, parsePortSpec } from './intercept-commands.js';

describe('parsePortSpec', () => {
  it.each([
    ['8080', { localPort: 8080, servicePort: '' }],
    ['8080:http', { localPort: 8080, servicePort: 'http' }],
    ['8080:80', { localPort: 8080, servicePort: '80' }],
  ])('%s', (spec, expected) => expect(parsePortSpec(spec)).toEqual(expected));
  it.each(['', 'http', '0', '70000', '8080:', '8080:Bad_Name', ':80'])('refuses %p with a hint', (spec) =>
    expect(() => parsePortSpec(spec)).toThrow(/is not LOCAL\[:SERVICE_PORT\]/),
  );
});

describe('formatList', () => {
  const res = {
    workloads: [
      { name: 'echo', namespace: 'default', agent: true, interceptState: 'ACTIVE', interceptMessage: '' },
      { name: 'web-frontend', namespace: 'default', agent: false, interceptState: '', interceptMessage: '' },
      {
        name: 'db',
        namespace: 'default',
        agent: false,
        interceptState: 'WAITING',
        interceptMessage: 'waiting for an agent of default/db',
      },
    ],
  };
  it('prints one aligned line per workload', () => {
    expect(formatList(res, 'human').split('\n')).toEqual([
      'echo        : intercepted: ACTIVE',
      'web-frontend: ready to intercept (traffic-agent not yet installed)',
      'db          : intercepted: WAITING (waiting for an agent of default/db)',
    ]);
  });
  it('prints JSON for scripts', () => {
    expect(JSON.parse(formatList(res, 'json'))).toEqual(res.workloads);
  });
});

describe('interceptMessage', () => {
  const res = { name: 'hello', state: 'ACTIVE', message: '' };
  it('says where the traffic goes', () => {
    expect(
      interceptMessage(res, { workload: 'hello', servicePort: '80', localPort: 18080, localOnly: false }),
    ).toBe('Intercept hello: ACTIVE; traffic for hello port 80 goes to 127.0.0.1:18080');
  });
  it('says that a local-only intercept redirects nothing', () => {
    const text = interceptMessage(res, {
      workload: 'hello',
      servicePort: '80',
      localPort: 18080,
      localOnly: true,
    });
    expect(text).toMatch(/^Intercept hello: ACTIVE; local-only: no traffic of hello is redirected/);
    expect(text).not.toMatch(/goes to 127\.0\.0\.1/);
    expect(text).toContain('`leave hello` ends it');
  });
});
