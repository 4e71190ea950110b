// Reads what the overriding resolver needs from /etc/resolv.conf: the primary nameserver (the one the
// redirect takes over and the fallback keeps using) and the search list.
import net from 'node:net';

import { readResolvConf } from '@telepresence/dns-core';

import { TpError } from '../util/errors.js';

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const lines = readResolvConf(text);
  return {
    nameservers: lines.nameservers
      .map((ns) => ns.replace(/%.*$/, '')) // drop an IPv6 zone
      .filter((ip) => net.isIP(ip) !== 0),
    search: lines.search.filter((a) => a !== ''),
  };
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
