// How the OS is made to ask our DNS server: the interface every mechanism implements (overriding.linux.ts,
// resolved.linux.ts, resolver-files.darwin.ts, windows-dns.win32.ts). Apart from os-resolver.ts, the
// factory that loads them, so that they import this file and not the one that imports them.
import type { Upstream } from '@telepresence/dns-core';
import type { OsDnsDomains } from './os-domains.js';

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
  /** Why this mechanism was chosen (one line: logged, and shown by status). */
  readonly reason?: string;
  /**
   * Routes a new set of domains to us (mapped namespaces, include suffixes, ... changed). Only for
   * mechanisms that route by domain; rewrites nothing when the set is unchanged.
   */
  setDomains?(domains: OsDnsDomains): Promise<void>;
  /** Drops the OS resolver's cached answers (ours among them), for mechanisms that cache. */
  flushCaches?(): Promise<void>;
}

/** What the VIF offers DNS (reference 4.9): an address routed into the TUN whose DNS flows it serves. */
export interface VifDns {
  readonly name: string;
  /** The kernel's interface index (Linux), or the adapter's InterfaceIndex (Windows). */
  readonly ifindex: number;
  /** The address the OS is told to send DNS to; UDP and TCP port 53 to it reach serveDnsAt's server. */
  readonly dnsAddress: string;
  /** Makes DNS flows to dnsAddress:53 go to our server at address:port. */
  serveDnsAt(address: string, port: number): void;
}

export interface OpenResolverHookOptions {
  readonly platform: NodeJS.Platform;
  /** --dns / dns.upstream; '' = from the OS configuration. */
  readonly upstream: string;
  readonly resolvConfPath?: string;
  /** Called before the hook changes anything on the machine (the state file records it). */
  readonly beforeChange: (what: { nftTable: string; family: 'ip' | 'ip6' }) => Promise<void>;
  /** The VIF's DNS side; without it only mechanisms that need no VIF (overriding, macOS) are possible. */
  readonly vif?: VifDns;
  /** The domains to route to us at install (see osDomains()); later changes go through setDomains(). */
  readonly domains?: OsDnsDomains;
  /** One line per decision (which mechanism and why). */
  readonly log?: (line: string) => void;
  /** D-Bus address of the system bus (tests); default: the system bus. */
  readonly systemBusAddress?: string;
  /** Looks a name up through the OS resolver (the resolved sanity check); default dns.promises.lookup. */
  readonly lookup?: (name: string) => Promise<readonly string[]>;
}
