// ClusterIP allocation from the service CIDR, with the apiserver's error texts.
import { invalid, type ApiError } from './errors.js';
import { cidrContains, cidrSize, intToIp, ipToInt, parseCidr, type Cidr } from '../net/ipv4.js';

export class ServiceIpAllocator {
  private readonly cidr: Cidr;
  private readonly used = new Set<string>();
  private next: number;

  constructor(cidrText: string) {
    this.cidr = parseCidr(cidrText);
    // Dynamic allocations start after the well-known low addresses (kubernetes .1, kube-dns .10).
    this.next = cidrSize(this.cidr) > 16 ? this.cidr.base + 11 : this.cidr.base + 1;
  }

  get range(): string {
    return this.cidr.text;
  }

  /** Reserves a requested IP, or throws the 422 the apiserver returns for it. */
  reserve(serviceName: string, ip: string): void {
    const err = this.check(serviceName, ip);
    if (err) throw err;
    this.used.add(ip);
  }

  check(serviceName: string, ip: string): ApiError | undefined {
    const fail = (why: string) =>
      invalid('Service', '', serviceName, [
        { field: 'spec.clusterIPs', message: `Invalid value: []string{"${ip}"}: ${why}` },
      ]);
    if (ipToInt(ip) === undefined)
      return fail(`must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`);
    const first = this.cidr.base;
    const last = this.cidr.base + cidrSize(this.cidr) - 1;
    const n = ipToInt(ip) ?? 0;
    if (!cidrContains(this.cidr, ip) || n === first || n === last) {
      return fail(
        `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr.text}`,
      );
    }
    if (this.used.has(ip)) return fail(`failed to allocate IP ${ip}: provided IP is already allocated`);
    return undefined;
  }

  allocate(): string {
    const first = this.cidr.base + 1;
    const count = cidrSize(this.cidr) - 2; // network and broadcast addresses are never handed out
    for (let i = 0; i < count; i++) {
      const n = first + ((this.next - first + i) % count);
      const ip = intToIp(n);
      if (!this.used.has(ip)) {
        this.next = first + ((n + 1 - first) % count);
        this.used.add(ip);
        return ip;
      }
    }
    throw new Error(`no free ClusterIP left in ${this.cidr.text}`);
  }

  release(ip: string): void {
    this.used.delete(ip);
  }
}
