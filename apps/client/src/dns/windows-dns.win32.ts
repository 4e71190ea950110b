// The Windows hook (seed "Windows resolver", reference 4.8): the VIF adapter gets our DNS address as its
// DNS server and `tel2-search` as its connection-specific suffix (Windows appends it to single labels),
// and one NRPT rule sends the cluster's domains to that address, so every other name keeps going to the
// system's own servers. DNS to the address travels through the TUN to our server. Quit removes the rule
// and resets the adapter. PowerShell's DnsClient module does the work; each change is one script.
import { createUdpTcpUpstream, SEARCH_MARKER } from '@telepresence/dns-core';
import { noFallback } from './no-fallback.js';
import { sameDomains, type OsDnsDomains } from './os-domains.js';
import type { OpenResolverHookOptions, OsResolverHook } from './os-resolver-hook.js';
import type { Run } from '../util/exec.js';

/** The NRPT rule comment that marks our rules (also those a crashed run left behind). */
export const NRPT_COMMENT = 'telepresence';

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export function powershell(run: Run, script: readonly string[]): Promise<string> {
  const text = ["$ErrorActionPreference = 'Stop'", ...script].join('\n');
  return run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', text], { timeoutMs: 30_000 });
}

export const removeRulesCommand = `Get-DnsClientNrptRule | Where-Object Comment -eq ${quote(NRPT_COMMENT)} | Remove-DnsClientNrptRule -Force`;

export function addRuleCommand(domains: OsDnsDomains, dnsAddress: string): string {
  const namespaces = [...domains.search, ...domains.routes].map((d) => quote(`.${d}`)).join(',');
  return `Add-DnsClientNrptRule -Namespace ${namespaces} -NameServers ${quote(dnsAddress)} -Comment ${quote(NRPT_COMMENT)}`;
}

/** The system's first IPv4 DNS server on another adapter: where names the cluster fails on go. */
export async function systemDnsServer(run: Run, ifindex: number): Promise<string | undefined> {
  const out = await powershell(run, [
    `Get-DnsClientServerAddress -AddressFamily IPv4 | Where-Object InterfaceIndex -ne ${ifindex} | ForEach-Object ServerAddresses | Select-Object -First 1`,
  ]).catch(() => '');
  const first = out.trim().split(/\s+/)[0] ?? '';
  return /^\d+\.\d+\.\d+\.\d+$/.test(first) ? first : undefined;
}

export async function openWindowsDnsHook(
  options: Pick<OpenResolverHookOptions, 'vif' | 'domains' | 'upstream' | 'log'>,
  run: Run,
): Promise<OsResolverHook> {
  const vif = options.vif;
  if (vif === undefined) throw new Error('DNS on Windows needs the VIF: it was not created');
  const upstream = options.upstream !== '' ? options.upstream : await systemDnsServer(run, vif.ifindex);
  const fallback = upstream === undefined ? noFallback : createUdpTcpUpstream({ address: upstream });
  const index = `-InterfaceIndex ${vif.ifindex}`;
  let domains = options.domains ?? { routes: [], search: [SEARCH_MARKER] };
  let applied: OsDnsDomains | undefined;
  let installed = false;
  let removed = false;
  const reason = `Windows: DNS server ${vif.dnsAddress} on adapter ${vif.name} with an NRPT rule for the cluster domains`;
  options.log?.(`dns: ${reason}`);
  return {
    mode: 'windows',
    upstream: upstream ?? 'none found (names the cluster does not know get NXDOMAIN)',
    reason,
    listenAddress: '127.0.0.1',
    fallback,
    searchDomains: [],
    async install(port: number): Promise<void> {
      vif.serveDnsAt('127.0.0.1', port);
      installed = true;
      await powershell(run, [
        removeRulesCommand,
        `Set-DnsClientServerAddress ${index} -ServerAddresses ${quote(vif.dnsAddress)}`,
        `Set-DnsClient ${index} -ConnectionSpecificSuffix ${quote(domains.search[0] ?? SEARCH_MARKER)} -RegisterThisConnectionsAddress $false`,
        addRuleCommand(domains, vif.dnsAddress),
      ]);
      applied = domains;
    },
    async setDomains(next: OsDnsDomains): Promise<void> {
      domains = next;
      if (!installed || removed || sameDomains(applied, next)) return;
      await powershell(run, [
        removeRulesCommand,
        addRuleCommand(next, vif.dnsAddress),
        'Clear-DnsClientCache',
      ]);
      applied = next;
    },
    async remove(): Promise<void> {
      if (removed) return;
      removed = true;
      try {
        if (installed) {
          await powershell(run, [
            removeRulesCommand,
            `Set-DnsClient ${index} -ConnectionSpecificSuffix ''`,
            `Set-DnsClientServerAddress ${index} -ResetServerAddresses`,
            'Clear-DnsClientCache',
          ]);
        }
      } finally {
        fallback.close();
      }
    },
  };
}
