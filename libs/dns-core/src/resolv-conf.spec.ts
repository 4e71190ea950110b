import { readResolvConf } from './resolv-conf.js';

describe('readResolvConf', () => {
  it('keeps nameservers in order, the last search/domain line as written, and ndots capped at 15', () => {
    const text = `# generated
nameserver 198.18.0.10 ; trailing comment
search a.svc.cluster.local. Cluster.Local
domain x.example
nameserver fe80::1%eth0
options timeout:1 ndots:20
bogus line`;
    expect(readResolvConf(text)).toEqual({
      nameservers: ['198.18.0.10', 'fe80::1%eth0'],
      search: ['x.example'],
      ndots: 15,
    });
  });

  it('defaults: no nameservers, no search, ndots 1', () => {
    expect(readResolvConf('')).toEqual({ nameservers: [], search: [], ndots: 1 });
  });
});
