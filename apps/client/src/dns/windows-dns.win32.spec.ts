// The Windows hook against a recording command runner: the exact PowerShell for a configuration, its
// updates and its complete removal.
import { osDomains } from './os-domains.js';
import type { VifDns } from './os-resolver-hook.js';
import { openWindowsDnsHook } from './windows-dns.win32.js';
import type { Run } from '../util/exec.js';

function recorder(systemServers = '198.18.0.53\n198.18.0.54\n'): Run & { scripts: string[] } {
  const scripts: string[] = [];
  const run = ((cmd: string, args: readonly string[]) => {
    expect(cmd).toBe('powershell.exe');
    expect(args.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-Command']);
    const script = args[3] ?? '';
    expect(script.split('\n')[0]).toBe("$ErrorActionPreference = 'Stop'");
    const body = script.split('\n').slice(1).join('\n');
    scripts.push(body);
    return Promise.resolve(body.startsWith('Get-DnsClientServerAddress') ? systemServers : '');
  }) as Run & { scripts: string[] };
  run.scripts = scripts;
  return run;
}

const served: string[] = [];
const vif: VifDns = {
  name: 'tel0',
  ifindex: 12,
  dnsAddress: '198.18.252.2',
  serveDnsAt: (a, p) => void served.push(`${a}:${p}`),
};
const config = {
  clusterDomain: 'cluster.local',
  connectedNamespace: 'default',
  mappedNamespaces: ['default'],
};
const REMOVE_RULES =
  "Get-DnsClientNrptRule | Where-Object Comment -eq 'telepresence' | Remove-DnsClientNrptRule -Force";

describe('Windows DNS hook', () => {
  it('configures the adapter and one NRPT rule, updates the rule on change, and reverts on quit', async () => {
    const run = recorder();
    const hook = await openWindowsDnsHook({ vif, domains: osDomains(config), upstream: '' }, run);
    expect(run.scripts).toEqual([
      'Get-DnsClientServerAddress -AddressFamily IPv4 | Where-Object InterfaceIndex -ne 12 | ForEach-Object ServerAddresses | Select-Object -First 1',
    ]);
    expect(hook.mode).toBe('windows');
    expect(hook.upstream).toBe('198.18.0.53'); // fallback: the system's first server

    await hook.install(5353);
    expect(served).toEqual(['127.0.0.1:5353']);
    expect(run.scripts[1]).toBe(
      [
        REMOVE_RULES,
        "Set-DnsClientServerAddress -InterfaceIndex 12 -ServerAddresses '198.18.252.2'",
        "Set-DnsClient -InterfaceIndex 12 -ConnectionSpecificSuffix 'tel2-search' -RegisterThisConnectionsAddress $false",
        "Add-DnsClientNrptRule -Namespace '.tel2-search','.cluster.local','.default','.svc' -NameServers '198.18.252.2' -Comment 'telepresence'",
      ].join('\n'),
    );

    await hook.setDomains?.(osDomains(config)); // unchanged: nothing runs
    expect(run.scripts).toHaveLength(2);
    await hook.setDomains?.(
      osDomains({ ...config, mappedNamespaces: ['default', 'team'], includeSuffixes: ['corp.example'] }),
    );
    expect(run.scripts[2]).toBe(
      [
        REMOVE_RULES,
        "Add-DnsClientNrptRule -Namespace '.tel2-search','.cluster.local','.corp.example','.default','.svc','.team' -NameServers '198.18.252.2' -Comment 'telepresence'",
        'Clear-DnsClientCache',
      ].join('\n'),
    );

    await hook.remove();
    await hook.remove();
    expect(run.scripts.slice(3)).toEqual([
      [
        REMOVE_RULES,
        "Set-DnsClient -InterfaceIndex 12 -ConnectionSpecificSuffix ''",
        'Set-DnsClientServerAddress -InterfaceIndex 12 -ResetServerAddresses',
        'Clear-DnsClientCache',
      ].join('\n'),
    ]);
  });

  it('uses --dns as the fallback when given, and changes nothing when never installed', async () => {
    const run = recorder();
    const hook = await openWindowsDnsHook({ vif, domains: osDomains(config), upstream: '198.18.9.9' }, run);
    expect(hook.upstream).toBe('198.18.9.9');
    await hook.remove();
    expect(run.scripts).toEqual([]);
  });

  it('has no fallback when the system has no other DNS server', async () => {
    const hook = await openWindowsDnsHook({ vif, domains: osDomains(config), upstream: '' }, recorder(''));
    expect(hook.upstream).toMatch(/^none found/);
    await hook.remove();
  });

  it('refuses to start without the VIF', async () => {
    await expect(
      openWindowsDnsHook({ domains: osDomains(config), upstream: '' }, recorder()),
    ).rejects.toThrow(/needs the VIF/);
  });
});
