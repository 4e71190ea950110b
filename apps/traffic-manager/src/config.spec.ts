import { subnetMath } from './cluster-info/subnet-math.js';
import { ConfigError, parseConfig } from './config.js';

const base = { POD_IP: '198.18.1.10', POD_NAMESPACE: 'ambassador' };

describe('parseConfig', () => {
  it('applies defaults', () => {
    const c = parseConfig(base, subnetMath);
    expect(c).toMatchObject({
      logLevel: 'info',
      serverPort: 8081,
      metricsPort: 9464,
      podCidrStrategy: 'auto',
      clientSessionTtlMs: 86_400_000,
      agentSessionTtlMs: 15_000,
      grpcMaxReceiveBytes: 4 * 1024 * 1024,
      tunnelWindows: { streamWindowBytes: 2 * 1024 * 1024, connectionWindowBytes: 16 * 1024 * 1024 },
      serviceCidr: undefined,
      dns: { includeSuffixes: [], excludeSuffixes: ['.com', '.io', '.net', '.org', '.ru'] },
    });
  });

  it('reads every chart setting', () => {
    const c = parseConfig(
      {
        ...base,
        LOG_LEVEL: 'DEBUG',
        SERVER_PORT: '9000',
        METRICS_PORT: '9100',
        POD_CIDR_STRATEGY: 'ENVIRONMENT',
        POD_CIDRS: '198.18.1.0/24 198.18.2.7/24',
        SERVICE_CIDR: '198.19.0.0/20',
        CLIENT_CONNECTION_TTL: '1h',
        AGENT_SESSION_TTL: '20s',
        GRPC_MAX_RECEIVE_SIZE: '8Mi',
        GRPC_STREAM_WINDOW: '1Mi',
        GRPC_CONNECTION_WINDOW: '64Mi',
        CLIENT_ROUTING_ALSO_PROXY_SUBNETS: '198.51.100.0/24',
        CLIENT_ROUTING_NEVER_PROXY_SUBNETS: '198.18.3.0/24',
        CLIENT_ROUTING_ALLOW_CONFLICTING_SUBNETS: '',
        CLIENT_DNS_INCLUDE_SUFFIXES: '.internal',
        CLIENT_DNS_EXCLUDE_SUFFIXES: '',
      },
      subnetMath,
    );
    expect(c).toMatchObject({
      logLevel: 'debug',
      serverPort: 9000,
      metricsPort: 9100,
      podCidrStrategy: 'environment',
      podCidrs: ['198.18.1.0/24', '198.18.2.0/24'],
      serviceCidr: '198.19.0.0/20',
      clientSessionTtlMs: 3_600_000,
      agentSessionTtlMs: 20_000,
      grpcMaxReceiveBytes: 8 * 1024 * 1024,
      tunnelWindows: { streamWindowBytes: 1024 * 1024, connectionWindowBytes: 64 * 1024 * 1024 },
      routing: {
        alsoProxySubnets: ['198.51.100.0/24'],
        neverProxySubnets: ['198.18.3.0/24'],
        allowConflictingSubnets: [],
      },
      dns: { includeSuffixes: ['.internal'], excludeSuffixes: [] },
    });
  });

  it('reports every problem at once, each saying what to fix', () => {
    let err: unknown;
    try {
      parseConfig(
        {
          POD_IP: 'nope',
          SERVER_PORT: '70000',
          POD_CIDR_STRATEGY: 'guess',
          SERVICE_CIDR: '198.19.0.0',
          LOG_LEVEL: 'loud',
          GRPC_STREAM_WINDOW: '16Ki',
          GRPC_CONNECTION_WINDOW: '4Gi',
        },
        subnetMath,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/POD_IP: "nope" is not an IP address/);
    expect(problems).toMatch(/POD_NAMESPACE: not set/);
    expect(problems).toMatch(/SERVER_PORT: "70000" is not a port/);
    expect(problems).toMatch(
      /POD_CIDR_STRATEGY: "guess" is not one of auto, nodePodCIDRs, coverPodIPs, environment/,
    );
    expect(problems).toMatch(/SERVICE_CIDR: .*prefix length/);
    expect(problems).toMatch(/LOG_LEVEL/);
    expect(problems).toMatch(
      /GRPC_STREAM_WINDOW: "16Ki" is not an HTTP\/2 window \(65535 to 2147483647 bytes\)/,
    );
    expect(problems).toMatch(/GRPC_CONNECTION_WINDOW: "4Gi" is not an HTTP\/2 window/);
  });

  it('requires podCIDRs with the environment strategy', () => {
    expect(() => parseConfig({ ...base, POD_CIDR_STRATEGY: 'environment' }, subnetMath)).toThrow(/podCIDRs/);
  });
});
