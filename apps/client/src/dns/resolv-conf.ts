// Which nameserver the overriding resolver takes over (the one the redirect captures and the fallback
// keeps using); /etc/resolv.conf itself is parsed by dns-core's parseResolvConf.
import net from 'node:net';

import type { ResolvConf } from '@telepresence/dns-core';

import { TpError } from '../util/errors.js';

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
