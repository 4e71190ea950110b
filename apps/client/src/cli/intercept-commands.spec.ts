import { formatList, parsePortSpec } from './intercept-commands.js';

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
