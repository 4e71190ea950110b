import { bypassTcpElementScript, redirectScript } from './nft-redirect.linux.js';

describe('nft redirect rules', () => {
  it('redirects UDP and TCP 53 of an IPv4 upstream to loopback, bypassing our ports', () => {
    expect(
      redirectScript({
        upstream: '198.19.255.1',
        upstreamPort: 53,
        localPort: 40053,
        bypassUdpPorts: [41000, 41001],
      }),
    ).toBe(`table ip telepresence_dns {}
delete table ip telepresence_dns
table ip telepresence_dns {
  set bypass_udp { type inet_service; elements = { 41000, 41001 }; }
  set bypass_tcp { type inet_service; flags timeout; }
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 198.19.255.1 udp dport 53 udp sport @bypass_udp return
    ip daddr 198.19.255.1 tcp dport 53 tcp sport @bypass_tcp return
    ip daddr 198.19.255.1 udp dport 53 dnat to 127.0.0.1:40053
    ip daddr 198.19.255.1 tcp dport 53 dnat to 127.0.0.1:40053
  }
}
`);
  });

  it('uses the ip6 family and ::1 for an IPv6 upstream, and omits empty elements', () => {
    const script = redirectScript({
      upstream: '2001:db8::53',
      upstreamPort: 53,
      localPort: 5353,
      bypassUdpPorts: [],
      table: 't',
    });
    expect(script).toContain('table ip6 t {');
    expect(script).toContain('ip6 daddr 2001:db8::53 udp dport 53 dnat to [::1]:5353');
    expect(script).toContain('set bypass_udp { type inet_service; }');
  });

  it('adds a TCP bypass port with a timeout', () => {
    expect(bypassTcpElementScript('198.19.255.1', 40100, 30)).toBe(
      'add element ip telepresence_dns bypass_tcp { 40100 timeout 30s }\n',
    );
  });
});
