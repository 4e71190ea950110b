// How the OS is made to ask our DNS server. One implementation per mechanism behind this interface; the
// Linux overriding resolver is the first (systemd-resolved, macOS and Windows come later).
import type { Upstream } from '@telepresence/dns-core';
import type { Run } from '../util/exec.js';

export type DnsMode = 'overriding' | 'systemd-resolved' | 'macos' | 'windows';

export interface OsResolverHook {
  readonly mode: DnsMode;
  /** Where names that are not the cluster's go (shown in status). */
  readonly upstream: string;
  /** The address our server must listen on for this mechanism. */
  readonly listenAddress: string;
  /** The fallback for non-cluster names; owned by the hook (closed by remove()). */
  readonly fallback: Upstream;
  /** Search domains of the OS configuration, stripped from queries before routing. */
  readonly searchDomains: readonly string[];
  /** Makes the OS send DNS to our server at listenAddress:port. Idempotent. */
  install(port: number): Promise<void>;
  /** Undoes install() and closes the fallback. Idempotent, safe before install(). */
  remove(): Promise<void>;
}

export interface OpenResolverHookOptions {
  readonly platform: NodeJS.Platform;
  /** --dns / dns.upstream; '' = from the OS configuration. */
  readonly upstream: string;
  readonly resolvConfPath?: string;
  /** Called before the hook changes anything on the machine (the state file records it). */
  readonly beforeChange: (what: { nftTable: string; family: 'ip' | 'ip6' }) => Promise<void>;
}

export async function openResolverHook(
  options: OpenResolverHookOptions,
  deps: { run: Run },
): Promise<OsResolverHook> {
  if (options.platform === 'linux') {
    const { openOverridingResolver } = await import('./overriding.linux.js');
    return openOverridingResolver(options, deps.run);
  }
  throw new Error(`DNS on ${options.platform} is not supported yet`);
}
