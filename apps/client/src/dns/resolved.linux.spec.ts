import { SANITY_CHECK_NAME } from '@telepresence/dns-core';
import { osDomains } from './os-domains.js';
import type { VifDns } from './os-resolver-hook.js';
import { linkDnsBody, linkDomainsBody, type Resolve1 } from './resolved-bus.linux.js';
import { createResolvedHook, resolvedLinkDomains, ResolvedNotRoutingError } from './resolved.linux.js';

function fakeResolve1(): Resolve1 & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    isRunning: () => Promise.resolve(true),
    setLinkDns: (i, s) => (calls.push(`SetLinkDNS ${i} ${s.join(',')}`), Promise.resolve()),
    setLinkDomains: (i, d) => (calls.push(`SetLinkDomains ${i} ${d.join(',')}`), Promise.resolve()),
    revertLink: (i) => (calls.push(`RevertLink ${i}`), Promise.resolve()),
    flushCaches: () => (calls.push('FlushCaches'), Promise.resolve()),
    close: () => void calls.push('close'),
  };
}

const served: string[] = [];
const vif: VifDns = {
  name: 'tel0',
  ifindex: 7,
  dnsAddress: '198.18.252.2',
  serveDnsAt: (a, p) => void served.push(`${a}:${p}`),
};
const config = {
  clusterDomain: 'cluster.local',
  connectedNamespace: 'default',
  mappedNamespaces: ['default'],
};

describe('systemd-resolved hook', () => {
  it('encodes the D-Bus bodies', () => {
    expect(linkDnsBody(['198.18.252.2', '2001:db8::53'])).toEqual([
      [2, Buffer.from([198, 18, 252, 2])],
      [10, Buffer.from('20010db8000000000000000000000053', 'hex')],
    ]);
    expect(() => linkDnsBody(['nameserver'])).toThrow(/not an IP address/);
    expect(linkDomainsBody(['tel2-search', '~cluster.local'])).toEqual([
      ['tel2-search', false],
      ['cluster.local', true],
    ]);
    expect(resolvedLinkDomains(osDomains(config))).toEqual([
      'tel2-search',
      '~cluster.local',
      '~default',
      '~svc',
    ]);
  });

  it('sets the link, passes the sanity check, updates only on change, reverts on quit', async () => {
    const bus = fakeResolve1();
    const asked: string[] = [];
    const hook = createResolvedHook({
      vif,
      domains: osDomains(config),
      resolve1: bus,
      lookup: (name) => (asked.push(name), Promise.resolve(['127.0.0.1'])),
    });
    expect(hook.mode).toBe('systemd-resolved');
    await hook.install(5353);
    expect(served).toContain('127.0.0.1:5353');
    expect(asked).toEqual([SANITY_CHECK_NAME]);
    expect(bus.calls).toEqual([
      'SetLinkDNS 7 198.18.252.2',
      'SetLinkDomains 7 tel2-search,~cluster.local,~default,~svc',
    ]);
    await hook.setDomains?.(osDomains(config));
    expect(bus.calls).toHaveLength(2);
    await hook.setDomains?.(osDomains({ ...config, mappedNamespaces: ['default', 'team'] }));
    expect(bus.calls.slice(2)).toEqual([
      'SetLinkDomains 7 tel2-search,~cluster.local,~default,~svc,~team',
      'FlushCaches',
    ]);
    // The intercepts changed (issue 18): resolved's copies of our answers go too.
    await hook.flushCaches?.();
    expect(bus.calls.slice(4)).toEqual(['FlushCaches']);
    await hook.remove();
    await hook.remove();
    await hook.flushCaches?.();
    expect(bus.calls.slice(5)).toEqual(['RevertLink 7', 'close']);
  });

  it('treats a link that is already gone as reverted, but reports other failures', async () => {
    for (const [message, fails] of [
      ['org.freedesktop.resolve1.NoSuchLink: Link 7 not known', false],
      ['org.freedesktop.DBus.Error.AccessDenied: denied', true],
    ] as const) {
      const bus = { ...fakeResolve1(), revertLink: () => Promise.reject(new Error(message)) };
      const hook = createResolvedHook({
        vif,
        domains: osDomains(config),
        resolve1: bus,
        lookup: () => Promise.resolve(['127.0.0.1']),
      });
      await hook.install(5353);
      if (fails) await expect(hook.remove()).rejects.toThrow(/AccessDenied/);
      else await hook.remove();
      expect(bus.calls.at(-1)).toBe('close');
    }
  });

  it('reverts and reports when resolved does not route the sanity name to us', async () => {
    const bus = fakeResolve1();
    let lookups = 0;
    const hook = createResolvedHook({
      vif,
      domains: osDomains(config),
      resolve1: bus,
      lookup: () => (lookups++, Promise.reject(new Error('ENOTFOUND'))),
      sanityTimeoutMs: 100,
      sanityIntervalMs: 20,
    });
    await expect(hook.install(5353)).rejects.toBeInstanceOf(ResolvedNotRoutingError);
    expect(lookups).toBeGreaterThan(1);
    expect(bus.calls.at(-1)).toBe('RevertLink 7');
    await hook.remove();
    expect(bus.calls.filter((c) => c === 'RevertLink 7')).toHaveLength(1); // not reverted twice
  });
});
