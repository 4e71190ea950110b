import { parseResolvConf } from '@telepresence/dns-core';

import { chooseUpstream } from './resolv-conf.js';

describe('resolv.conf', () => {
  const conf = { nameservers: ['198.19.255.1', 'fe80::1'], search: [], ndots: 1 };
  it('prefers the configured upstream', () =>
    expect(chooseUpstream('198.19.255.9', conf, 'f')).toBe('198.19.255.9'));
  it('falls back to the first nameserver', () => expect(chooseUpstream('', conf, 'f')).toBe('198.19.255.1'));
  it('explains a missing nameserver', () =>
    expect(() => chooseUpstream('', parseResolvConf(''), '/etc/resolv.conf')).toThrow(
      'no nameserver in /etc/resolv.conf',
    ));
  it('rejects a bad --dns', () =>
    expect(() => chooseUpstream('x', conf, 'f')).toThrow(/invalid DNS server "x"/));
});
