// Reads what the overriding resolver needs from /etc/resolv.conf: the primary nameserver (the one the
// redirect takes over and the fallback keeps using) and the search list.
import net from 'node:net';
import { TpError } from '../util/errors.js';

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, ...args] = line.split(/\s+/);
    if (keyword === 'nameserver' && args[0] !== undefined) {
      const ip = args[0].replace(/%.*$/, ''); // drop an IPv6 zone
      if (net.isIP(ip) !== 0) nameservers.push(ip);
    } else if (keyword === 'search' || keyword === 'domain') {
      search = args.filter((a) => a !== '');
    }
  }
  return { nameservers, search };
}

/** The upstream to take over: --dns / dns.upstream if set, else the first nameserver. */
export function chooseUpstream(configured: string, conf: ResolvConf, source: string): string {
  if (configured !== '') {
    if (net.isIP(configured) === 0) {
      throw new TpError('config', `invalid DNS server "${configured}": not an IP address`, {
        hint: 'pass --dns with the IP of your nameserver',
      });
    }
    return configured;
  }
  const first = conf.nameservers[0];
  if (first === undefined) {
    throw new TpError('config', `no nameserver in ${source}`, {
      hint: 'pass --dns with the IP of your nameserver',
    });
  }
  return first;
}
