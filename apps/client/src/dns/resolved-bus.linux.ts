// The systemd-resolved D-Bus API that the resolved hook uses (org.freedesktop.resolve1(5)), on dbus-next.
// Plain method calls with explicit signatures, no introspection; every call has a timeout because a bus
// that stopped answering must not hang connect or quit.
import net from 'node:net';
import dbus from 'dbus-next';
import { ipTextToBytes } from '@telepresence/subnets';

const RESOLVE1 = 'org.freedesktop.resolve1';
const RESOLVE1_PATH = '/org/freedesktop/resolve1';
const RESOLVE1_MANAGER = 'org.freedesktop.resolve1.Manager';
const AF_INET = 2;
const AF_INET6 = 10;

/** The calls the hook makes; a fake implements it in the unit tests. */
export interface Resolve1 {
  /** True when resolved is running (owns its bus name) right now. */
  isRunning(): Promise<boolean>;
  setLinkDns(ifindex: number, servers: readonly string[]): Promise<void>;
  /** Domains with `~` are routing-only (`SetLinkDomains` gets them without it and routingOnly=true). */
  setLinkDomains(ifindex: number, domains: readonly string[]): Promise<void>;
  revertLink(ifindex: number): Promise<void>;
  flushCaches(): Promise<void>;
  close(): void;
}

export interface Resolve1Options {
  /** A D-Bus address (`unix:path=...`); default: the system bus. */
  readonly busAddress?: string;
  readonly timeoutMs?: number;
}

/** The D-Bus body of SetLinkDNS's `a(iay)`: (family, address bytes). */
export function linkDnsBody(servers: readonly string[]): Array<[number, Buffer]> {
  return servers.map((s) => {
    if (net.isIPv4(s)) return [AF_INET, ipTextToBytes(s)];
    if (net.isIPv6(s)) return [AF_INET6, ipTextToBytes(s)];
    throw new TypeError(`DNS server "${s}" is not an IP address`);
  });
}

/** The D-Bus body of SetLinkDomains's `a(sb)`: (domain, routingOnly). */
export function linkDomainsBody(domains: readonly string[]): Array<[string, boolean]> {
  return domains.map((d) => (d.startsWith('~') ? [d.slice(1), true] : [d, false]));
}

export function openResolve1(options: Resolve1Options = {}): Resolve1 {
  const bus =
    options.busAddress === undefined ? dbus.systemBus() : dbus.sessionBus({ busAddress: options.busAddress });
  const state: { busError?: Error } = {};
  // A missing or dying bus emits 'error' (without a listener that would crash the daemon); calls waiting
  // for an answer then fail at once instead of at their timeout.
  let failBus: (err: Error) => void = () => {};
  const busFailed = new Promise<never>((_, reject) => (failBus = reject));
  busFailed.catch(() => undefined);
  bus.on('error', (err: unknown) => {
    state.busError = err instanceof Error ? err : new Error(String(err));
    failBus(state.busError);
  });
  const timeoutMs = options.timeoutMs ?? 3000;

  const call = async (
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<unknown[]> => {
    if (state.busError !== undefined) throw new Error(`D-Bus: ${state.busError.message}`);
    const message = new dbus.Message({
      destination,
      path,
      interface: iface,
      member,
      ...(signature === '' ? {} : { signature }),
      body,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`D-Bus ${iface}.${member}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const reply = await Promise.race([bus.call(message), timeout, busFailed]);
      return reply?.body ?? [];
    } catch (err) {
      const text = err instanceof dbus.DBusError ? `${err.type}: ${err.text}` : (err as Error).message;
      // The bus's own error (socket gone...) says more than the call's.
      const busError = state.busError as Error | undefined;
      throw new Error(`D-Bus ${iface}.${member}: ${busError?.message ?? text}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  };
  const manager = (member: string, signature: string, body: unknown[]): Promise<unknown[]> =>
    call(RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER, member, signature, body);

  return {
    async isRunning() {
      const [has] = await call(
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'NameHasOwner',
        's',
        [RESOLVE1],
      );
      return has === true;
    },
    async setLinkDns(ifindex, servers) {
      await manager('SetLinkDNS', 'ia(iay)', [ifindex, linkDnsBody(servers)]);
    },
    async setLinkDomains(ifindex, domains) {
      await manager('SetLinkDomains', 'ia(sb)', [ifindex, linkDomainsBody(domains)]);
    },
    async revertLink(ifindex) {
      await manager('RevertLink', 'i', [ifindex]);
    },
    async flushCaches() {
      await manager('FlushCaches', '', []);
    },
    close() {
      bus.disconnect();
    },
  };
}
