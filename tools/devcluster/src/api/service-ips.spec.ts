import { ServiceIpAllocator } from './service-ips.js';

describe('ServiceIpAllocator', () => {
  it('rejects an out-of-range IP with the apiserver message', () => {
    const a = new ServiceIpAllocator('198.19.0.0/20');
    expect(() => a.reserve('t2-tst-dummy', '1.1.1.1')).toThrow(
      'Service "t2-tst-dummy" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 198.19.0.0/20',
    );
  });

  it('allocates unique addresses, skips reserved ones and reuses released ones', () => {
    const a = new ServiceIpAllocator('198.19.0.0/29');
    a.reserve('x', '198.19.0.1');
    const got = new Set<string>();
    for (let i = 0; i < 5; i++) got.add(a.allocate());
    expect(got.size).toBe(5);
    expect(got.has('198.19.0.1')).toBe(false);
    expect(got.has('198.19.0.0')).toBe(false);
    expect(got.has('198.19.0.7')).toBe(false);
    expect(() => a.allocate()).toThrow(/no free ClusterIP/);
    a.release('198.19.0.3');
    expect(a.allocate()).toBe('198.19.0.3');
    expect(() => a.reserve('y', '198.19.0.3')).toThrow(/already allocated/);
  });
});
