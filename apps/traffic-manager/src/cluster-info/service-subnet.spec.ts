import { pino } from 'pino';

import { FakeClusterApi } from '../k8s/cluster-api.fake.js';
import { discoverServiceSubnet, dummyServiceName, parseValidRange } from './service-subnet.js';
import { subnetMath } from './subnet-math.js';

function logSink() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

const options = (api: FakeClusterApi, log: ReturnType<typeof logSink>['log']) => ({
  api,
  subnets: subnetMath,
  log,
  namespace: 'ambassador',
  podIp: '198.18.1.10',
  configured: undefined,
});

describe('service subnet discovery', () => {
  it('parses the range out of the real API server message', () => {
    expect(
      parseValidRange(
        'Service "t2-tst-dummy" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 198.19.0.0/20',
      ),
    ).toBe('198.19.0.0/20');
    expect(parseValidRange('The range of valid IPs is fd00:10:96::/112')).toBe('fd00:10:96::/112');
    expect(parseValidRange('something else')).toBeUndefined();
  });

  it('finds it by the dummy-service trick and leaves no Service', async () => {
    const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
    const { log, lines } = logSink();
    const r = await discoverServiceSubnet(options(api, log), new AbortController().signal);
    expect(r).toEqual({ cidr: '198.19.0.0/20', method: 'dummy-service' });
    expect(api.services.size).toBe(0);
    expect(api.calls).toEqual([`create ambassador/${dummyServiceName}`]);
    expect(lines.some((l) => l['msg'] === 'service subnet 198.19.0.0/20 (found by dummy-service)')).toBe(
      true,
    );
  });

  it('prefers the ServiceCIDR API', async () => {
    const api = new FakeClusterApi({
      serviceRange: '198.19.0.0/20',
      serviceCidrs: ['198.19.0.0/16', 'fd00::/108'],
    });
    const r = await discoverServiceSubnet(options(api, logSink().log), new AbortController().signal);
    expect(r).toEqual({ cidr: '198.19.0.0/16', method: 'serviceCIDR-api' });
    expect(api.calls).toEqual([]);
  });

  it('uses the configured value without asking the cluster', async () => {
    const api = new FakeClusterApi({ serviceRange: '198.19.0.0/20' });
    const r = await discoverServiceSubnet(
      { ...options(api, logSink().log), configured: '198.19.8.0/21' },
      new AbortController().signal,
    );
    expect(r).toEqual({ cidr: '198.19.8.0/21', method: 'configured' });
    expect(api.calls).toEqual([]);
  });

  it('deletes the dummy Service when its creation unexpectedly succeeds, and says what to configure', async () => {
    const api = new FakeClusterApi({ acceptAnyClusterIp: true });
    const { log, lines } = logSink();
    const r = await discoverServiceSubnet(options(api, log), new AbortController().signal);
    expect(r).toBeUndefined();
    expect(api.services.size).toBe(0);
    expect(api.calls).toEqual([
      `create ambassador/${dummyServiceName}`,
      `delete ambassador/${dummyServiceName}`,
    ]);
    const error = lines.find((l) => l['level'] === 50);
    expect(String(error?.['msg'])).toMatch(/set the chart value serviceCIDR \(env SERVICE_CIDR\)/);
  });

  it('logs what to configure when the error has no range', async () => {
    const api = new FakeClusterApi({ serviceRange: undefined });
    const { log, lines } = logSink();
    expect(await discoverServiceSubnet(options(api, log), new AbortController().signal)).toBeUndefined();
    expect(lines.some((l) => /serviceCIDR/.test(String(l['msg'])))).toBe(true);
  });
});
