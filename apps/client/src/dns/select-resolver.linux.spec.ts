import type { Upstream } from '@telepresence/dns-core';
import { osDomains } from './os-domains.js';
import type { OpenResolverHookOptions, OsResolverHook } from './os-resolver-hook.js';
import type { Resolve1 } from './resolved-bus.linux.js';
import { openLinuxResolverHook } from './select-resolver.linux.js';

const upstream: Upstream = { exchange: () => Promise.reject(new Error('unused')), close: () => {} };

function fakeOverriding(events: string[]): () => Promise<OsResolverHook> {
  let removed = false;
  return () =>
    Promise.resolve({
      mode: 'overriding',
      upstream: '198.18.253.2',
      listenAddress: '127.0.0.1',
      fallback: upstream,
      searchDomains: ['corp.test'],
      install: (port) => (events.push(`overriding install ${port}`), Promise.resolve()),
      remove: () => (removed || events.push('overriding remove'), (removed = true), Promise.resolve()),
    });
}

function fakeBus(running: boolean | Error, events: string[]): () => Resolve1 {
  return () => ({
    isRunning: () => (running instanceof Error ? Promise.reject(running) : Promise.resolve(running)),
    setLinkDns: () => (events.push('SetLinkDNS'), Promise.resolve()),
    setLinkDomains: () => (events.push('SetLinkDomains'), Promise.resolve()),
    revertLink: () => (events.push('RevertLink'), Promise.resolve()),
    flushCaches: () => Promise.resolve(),
    close: () => void events.push('bus close'),
  });
}

function options(lines: string[], over: Partial<OpenResolverHookOptions> = {}): OpenResolverHookOptions {
  return {
    platform: 'linux',
    upstream: '',
    beforeChange: () => Promise.resolve(),
    vif: { name: 'tel0', ifindex: 7, dnsAddress: '198.18.252.2', serveDnsAt: () => {} },
    domains: osDomains({ clusterDomain: 'cluster.local' }),
    log: (line) => lines.push(line),
    lookup: () => Promise.resolve(['127.0.0.1']),
    ...over,
  };
}

const run = (): Promise<string> => Promise.reject(new Error('no commands in this test'));

describe('the Linux resolver probe', () => {
  it.each([
    [
      'no VIF',
      { noVif: true } as Partial<OpenResolverHookOptions> & { noVif?: true },
      true,
      'the VIF has no DNS address for systemd-resolved',
    ],
    [
      'resolved not running',
      {},
      false,
      'systemd-resolved is not running (org.freedesktop.resolve1 has no owner on the system bus)',
    ],
    [
      'no system bus',
      {},
      new Error('connect ENOENT /run/dbus/system_bus_socket'),
      'no system D-Bus (connect ENOENT /run/dbus/system_bus_socket)',
    ],
  ])('picks the overriding resolver for %s and says why in one line', async (_what, over, running, why) => {
    const lines: string[] = [];
    const events: string[] = [];
    const { noVif, ...rest } = over as typeof over & { noVif?: true };
    const { vif: _unused, ...withoutVif } = options(lines, rest);
    const hook = await openLinuxResolverHook(noVif === true ? withoutVif : options(lines, rest), run, {
      openResolve1: fakeBus(running, events),
      openOverriding: fakeOverriding(events),
    });
    expect(hook.mode).toBe('overriding');
    expect(hook.reason).toBe(`overriding resolver: ${why}`);
    expect(lines).toEqual([`dns: overriding resolver: ${why}`]);
    expect(events.filter((e) => e.startsWith('Set'))).toEqual([]);
  });

  it('uses resolved when its sanity check passes', async () => {
    const lines: string[] = [];
    const events: string[] = [];
    const hook = await openLinuxResolverHook(options(lines), run, {
      openResolve1: fakeBus(true, events),
      openOverriding: fakeOverriding(events),
    });
    await hook.install(5353);
    expect(hook.mode).toBe('systemd-resolved');
    expect(lines).toEqual([
      'dns: systemd-resolved: running, and it routes the cluster domains to the VIF (sanity check passed)',
    ]);
    expect(events).toEqual(['SetLinkDNS', 'SetLinkDomains', 'overriding remove']);
    await hook.remove();
    expect(events.slice(3)).toEqual(['RevertLink', 'bus close']);
  });

  it('falls back to the overriding resolver when the sanity check fails', async () => {
    const lines: string[] = [];
    const events: string[] = [];
    const hook = await openLinuxResolverHook(
      options(lines, { lookup: () => Promise.resolve(['198.18.250.99']) }),
      run,
      { openResolve1: fakeBus(true, events), openOverriding: fakeOverriding(events) },
    );
    // The sanity check takes its full 2 s budget here.
    await hook.install(5353);
    expect(hook.mode).toBe('overriding');
    expect(hook.searchDomains).toEqual(['corp.test']);
    expect(lines).toEqual([
      expect.stringMatching(
        /^dns: overriding resolver: systemd-resolved is running but does not route our names/,
      ),
    ]);
    expect(events).toEqual([
      'SetLinkDNS',
      'SetLinkDomains',
      'RevertLink',
      'bus close',
      'overriding install 5353',
    ]);
    await hook.remove();
    expect(events.at(-1)).toBe('overriding remove');
  });
});
