// The Linux overriding resolver (seed; reference 4.8): for systems without systemd-resolved. The primary
// nameserver (or --dns) keeps being the one the OS asks, but nft redirects those packets to our server;
// our fallback to that nameserver goes out from sockets the redirect lets through. /etc/resolv.conf itself
// is never modified, so a crash cannot leave it pointing at nothing; the redirect is one nft table that the
// next connect/quit deletes by name.
import fs from 'node:fs/promises';
import net from 'node:net';
import { openBypassUpstream } from './bypass-upstream.linux.js';
import {
  allowTcpSourcePort,
  installRedirect,
  localAddressFor,
  NFT_TABLE,
  removeRedirect,
} from './nft-redirect.linux.js';
import type { OpenResolverHookOptions, OsResolverHook } from './os-resolver-hook.js';
import { parseResolvConf } from '@telepresence/dns-core';
import { chooseUpstream } from './resolv-conf.js';
import type { Run } from '../util/exec.js';

export async function openOverridingResolver(
  options: OpenResolverHookOptions,
  run: Run,
): Promise<OsResolverHook> {
  const resolvConfPath = options.resolvConfPath ?? '/etc/resolv.conf';
  const text = await fs.readFile(resolvConfPath, 'utf8').catch(() => '');
  const conf = parseResolvConf(text);
  const upstream = chooseUpstream(options.upstream, conf, resolvConfPath);
  const fallback = await openBypassUpstream({
    address: upstream,
    allowTcpSourcePort: (port) => allowTcpSourcePort(run, upstream, port),
  });
  let installed = false;
  let removed = false;
  return {
    mode: 'overriding',
    upstream,
    listenAddress: localAddressFor(upstream),
    fallback,
    searchDomains: conf.search,
    async install(port: number): Promise<void> {
      await options.beforeChange({ nftTable: NFT_TABLE, family: net.isIPv6(upstream) ? 'ip6' : 'ip' });
      await installRedirect(run, {
        upstream,
        upstreamPort: 53,
        localPort: port,
        bypassUdpPorts: fallback.udpPorts,
      });
      installed = true;
    },
    async remove(): Promise<void> {
      if (removed) return;
      removed = true;
      try {
        if (installed) await removeRedirect(run);
      } finally {
        fallback.close();
      }
    },
  };
}
