// The Linux probe: systemd-resolved when it runs and routes our names to the VIF, else the overriding
// resolver. Logs one line saying which and why. resolved is only known to work after install() (the
// sanity check needs our server listening), so the hook returned here installs resolved first and, if
// the sanity check fails, reverts the link and installs the overriding resolver on the same server.
import dnsPromises from 'node:dns/promises';
import type { Upstream } from '@telepresence/dns-core';
import type { OsDnsDomains } from './os-domains.js';
import type { DnsMode, OpenResolverHookOptions, OsResolverHook } from './os-resolver-hook.js';
import { openOverridingResolver } from './overriding.linux.js';
import { createResolvedHook, ResolvedNotRoutingError } from './resolved.linux.js';
import { openResolve1, type Resolve1 } from './resolved-bus.linux.js';
import type { Run } from '../util/exec.js';

export interface LinuxProbeDeps {
  readonly openResolve1: (busAddress: string | undefined) => Resolve1;
  readonly openOverriding: () => Promise<OsResolverHook>;
}

async function osLookup(name: string): Promise<readonly string[]> {
  const found = await dnsPromises.lookup(name, { all: true });
  return found.map((a) => a.address);
}

export async function openLinuxResolverHook(
  options: OpenResolverHookOptions,
  run: Run,
  deps: LinuxProbeDeps = {
    openResolve1: (busAddress) => openResolve1(busAddress === undefined ? {} : { busAddress }),
    openOverriding: () => openOverridingResolver(options, run),
  },
): Promise<OsResolverHook> {
  const log = options.log ?? (() => {});
  const overriding = async (why: string): Promise<OsResolverHook> => {
    const hook = await deps.openOverriding();
    const reason = `overriding resolver: ${why}`;
    log(`dns: ${reason}`);
    return withReason(hook, reason);
  };
  const vif = options.vif;
  if (vif === undefined) return overriding('the VIF has no DNS address for systemd-resolved');
  // No "in a container" shortcut (the original has one): a container without resolved fails the bus
  // check below, and one with a working resolved passes the sanity check; either way the probe decides.

  const resolve1 = deps.openResolve1(options.systemBusAddress);
  let running: boolean;
  try {
    running = await resolve1.isRunning();
  } catch (err) {
    resolve1.close();
    return overriding(`no system D-Bus (${(err as Error).message})`);
  }
  if (!running) {
    resolve1.close();
    return overriding(
      'systemd-resolved is not running (org.freedesktop.resolve1 has no owner on the system bus)',
    );
  }
  // The overriding resolver is opened now (it only reads resolv.conf and binds sockets) so that the
  // server can be created with its listen address and fallback before we know which one is used.
  let second: OsResolverHook | undefined;
  let secondError: unknown;
  try {
    second = await deps.openOverriding();
  } catch (err) {
    secondError = err;
  }
  const resolved = createResolvedHook({
    vif,
    domains: options.domains ?? { routes: [], search: [] },
    resolve1,
    lookup: options.lookup ?? osLookup,
    ...(second === undefined ? {} : { listenAddress: second.listenAddress }),
  });
  return probingHook(resolved, second, secondError, log);
}

function withReason(hook: OsResolverHook, reason: string): OsResolverHook {
  return Object.assign(Object.create(hook) as OsResolverHook, { reason });
}

/** resolved first; on a failed sanity check, the overriding resolver (reference 4.8). */
function probingHook(
  resolved: OsResolverHook,
  second: OsResolverHook | undefined,
  secondError: unknown,
  log: (line: string) => void,
): OsResolverHook {
  let active: OsResolverHook = resolved;
  let reason = 'systemd-resolved: running; probing whether it routes our names to the VIF';
  let domains: OsDnsDomains | undefined;
  const fallback: Upstream = {
    exchange: (question, signal) => active.fallback.exchange(question, signal),
    close: () => {},
  };
  return {
    get mode(): DnsMode {
      return active.mode;
    },
    get upstream(): string {
      return active.upstream;
    },
    get reason(): string {
      return reason;
    },
    listenAddress: resolved.listenAddress,
    fallback,
    searchDomains: second?.searchDomains ?? [],
    async install(port: number): Promise<void> {
      try {
        await resolved.install(port);
        reason =
          'systemd-resolved: running, and it routes the cluster domains to the VIF (sanity check passed)';
        log(`dns: ${reason}`);
        await second?.remove();
        return;
      } catch (err) {
        await resolved.remove().catch(() => undefined);
        if (second === undefined) {
          throw new Error(
            `DNS: systemd-resolved failed (${(err as Error).message}) and the overriding resolver could not start (${(secondError as Error | undefined)?.message ?? 'unknown'})`,
            { cause: err },
          );
        }
        const why =
          err instanceof ResolvedNotRoutingError
            ? `systemd-resolved is running but does not route our names (${err.message})`
            : `systemd-resolved failed: ${(err as Error).message}`;
        reason = `overriding resolver: ${why}`;
        log(`dns: ${reason}`);
        active = second;
      }
      await active.install(port);
      if (domains !== undefined) await active.setDomains?.(domains);
    },
    async setDomains(next: OsDnsDomains): Promise<void> {
      domains = next;
      await active.setDomains?.(next);
    },
    async flushCaches(): Promise<void> {
      await active.flushCaches?.();
    },
    async remove(): Promise<void> {
      try {
        await resolved.remove();
      } finally {
        await second?.remove();
      }
    },
  };
}
