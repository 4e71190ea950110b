import { ConfigError, parseAgentConfig, portMatches, type InterceptPort } from './config.js';

const base = {
  AGENT_MANAGER_HOST: 'traffic-manager.ambassador',
  POD_NAME: 'echo-abc',
  POD_NAMESPACE: 'default',
  POD_IP: '198.18.1.5',
  AGENT_WORKLOAD: 'echo',
  AGENT_PORTS: JSON.stringify([
    {
      servicePortName: 'http',
      servicePort: 80,
      targetPortName: 'http',
      containerPort: 8080,
      agentPort: 9900,
    },
  ]),
};

describe('parseAgentConfig', () => {
  it('reads a complete environment with defaults', () => {
    const c = parseAgentConfig(base);
    expect(c).toMatchObject({
      managerHost: 'traffic-manager.ambassador',
      managerPort: 8081,
      appHost: '198.18.1.5',
      remainIntervalMs: 5000,
      dialTimeoutMs: 3000,
      resolvConfPath: '/etc/resolv.conf',
    });
    expect(c.ports).toEqual([
      {
        serviceName: '',
        servicePortName: 'http',
        servicePort: 80,
        targetPortName: 'http',
        containerPort: 8080,
        agentPort: 9900,
        redirect: false,
      },
    ]);
  });

  it('reports every problem at once, naming the variables', () => {
    let err: unknown;
    try {
      parseAgentConfig({ POD_IP: 'nope', AGENT_MANAGER_PORT: '99999', AGENT_PORTS: '[{"containerPort":1}]' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    for (const s of [
      'AGENT_MANAGER_HOST is not set',
      'AGENT_MANAGER_PORT=99999',
      'POD_NAME is not set',
      'POD_IP=nope is not an IP address',
      'AGENT_WORKLOAD is not set',
      'AGENT_PORTS[0] needs containerPort and agentPort',
    ])
      expect(msg).toContain(s);
  });

  it('rejects malformed and duplicate port lists', () => {
    expect(() => parseAgentConfig({ ...base, AGENT_PORTS: '{' })).toThrow(/AGENT_PORTS is not JSON/);
    expect(() => parseAgentConfig({ ...base, AGENT_PORTS: '{}' })).toThrow(/must be a JSON list/);
    const dup = JSON.stringify([
      { containerPort: 1, agentPort: 9900 },
      { containerPort: 2, agentPort: 9900 },
    ]);
    expect(() => parseAgentConfig({ ...base, AGENT_PORTS: dup })).toThrow(
      /agent port 9900 is used for container ports 1 and 2/,
    );
    // Two Services reaching one container port share its agent port.
    const shared = JSON.stringify([
      { servicePortName: 'http', targetPortName: 'http', containerPort: 8080, agentPort: 9900 },
      { servicePort: 8080, containerPort: 8080, agentPort: 9900, redirect: true },
    ]);
    expect(parseAgentConfig({ ...base, AGENT_PORTS: shared }).ports).toHaveLength(2);
  });
});

describe('portMatches', () => {
  const p: InterceptPort = {
    serviceName: 'echo',
    servicePortName: 'web',
    servicePort: 80,
    targetPortName: 'http',
    containerPort: 8080,
    agentPort: 9900,
    redirect: false,
  };
  it.each([
    ['', true],
    ['web', true],
    ['http', true],
    ['80', true],
    ['8080', true],
    ['tcp', false],
    ['9000', false],
  ])('%s -> %s', (spec, expected) => expect(portMatches(p, spec)).toBe(expected));
});
