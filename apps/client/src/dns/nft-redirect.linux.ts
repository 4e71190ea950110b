// The overriding resolver's packet redirect (reference 4.8, done with nft instead of iptables): DNS to the
// upstream nameserver, UDP and TCP port 53, is DNATed in nat OUTPUT to our server on loopback. Our own
// fallback sockets must still reach the real upstream, and Node cannot set SO_MARK, so they are recognised
// by their source port: the UDP pool binds its ports before the table exists (set bypass_udp), and each TCP
// fallback connection registers its port in bypass_tcp (with a timeout, so nothing accumulates) before it
// connects. Everything lives in one table that we own and delete as a whole.
import net from 'node:net';
import type { Run } from '../util/exec.js';
import { CommandError } from '../util/exec.js';

export const NFT_TABLE = 'telepresence_dns';

export interface RedirectSpec {
  readonly upstream: string;
  readonly upstreamPort: number;
  /** Our DNS server: 127.0.0.1 (or ::1 for an IPv6 upstream) and its port. */
  readonly localPort: number;
  readonly bypassUdpPorts: readonly number[];
  readonly table?: string;
}

function family(ip: string): 'ip' | 'ip6' {
  return net.isIPv6(ip) ? 'ip6' : 'ip';
}

export function localAddressFor(upstream: string): string {
  return net.isIPv6(upstream) ? '::1' : '127.0.0.1';
}

/**
 * The `nft -f` script. It first creates-then-deletes the table so that the whole script is one
 * transaction that replaces any previous version (idempotent, never half-applied).
 */
export function redirectScript(spec: RedirectSpec): string {
  const table = spec.table ?? NFT_TABLE;
  const fam = family(spec.upstream);
  const local = fam === 'ip6' ? `[${localAddressFor(spec.upstream)}]` : localAddressFor(spec.upstream);
  const match = `${fam} daddr ${spec.upstream}`;
  const udpElements =
    spec.bypassUdpPorts.length > 0 ? ` elements = { ${spec.bypassUdpPorts.join(', ')} };` : '';
  return [
    `table ${fam} ${table} {}`,
    `delete table ${fam} ${table}`,
    `table ${fam} ${table} {`,
    `  set bypass_udp { type inet_service;${udpElements} }`,
    `  set bypass_tcp { type inet_service; flags timeout; }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    ${match} udp dport ${spec.upstreamPort} udp sport @bypass_udp return`,
    `    ${match} tcp dport ${spec.upstreamPort} tcp sport @bypass_tcp return`,
    `    ${match} udp dport ${spec.upstreamPort} dnat to ${local}:${spec.localPort}`,
    `    ${match} tcp dport ${spec.upstreamPort} dnat to ${local}:${spec.localPort}`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

export function bypassTcpElementScript(
  upstream: string,
  port: number,
  timeoutS: number,
  table = NFT_TABLE,
): string {
  return `add element ${family(upstream)} ${table} bypass_tcp { ${port} timeout ${timeoutS}s }\n`;
}

export async function installRedirect(run: Run, spec: RedirectSpec): Promise<void> {
  await run('nft', ['-f', '-'], { input: redirectScript(spec) });
}

export async function allowTcpSourcePort(
  run: Run,
  upstream: string,
  port: number,
  table = NFT_TABLE,
): Promise<void> {
  await run('nft', ['-f', '-'], { input: bypassTcpElementScript(upstream, port, 30, table) });
}

/** Deletes our table in both families; a table that is not there is not an error. */
export async function removeRedirect(run: Run, table = NFT_TABLE): Promise<void> {
  for (const fam of ['ip', 'ip6'] as const) {
    try {
      await run('nft', ['delete', 'table', fam, table]);
    } catch (e) {
      if (!(e instanceof CommandError && /No such file or directory|does not exist/i.test(e.stderr))) throw e;
    }
  }
}

/** Whether a table of ours exists (crash recovery looks for it by name). */
export async function redirectInstalled(run: Run, table = NFT_TABLE): Promise<boolean> {
  const out = await run('nft', ['list', 'tables']);
  return out.split('\n').some((line) => line.trim().endsWith(` ${table}`));
}
