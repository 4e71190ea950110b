import { parseCidr } from './cidr.js';
import type { Cidr } from './cidr.js';
import { findRouteConflicts, formatRouteConflict } from './route-conflicts.js';
import type { Route, RouteConflictOptions } from './route-conflicts.js';

const route = (cidr: string, dev: string, isDefault = false): Route =>
  isDefault
    ? { cidr: parseCidr(cidr), interface: dev, isDefault }
    : { cidr: parseCidr(cidr), interface: dev };

// A typical laptop table on a VPN, in reserved test ranges.
const TABLE: Route[] = [
  route('0.0.0.0/0', 'wlan0'),
  route('0.0.0.0/1', 'tun-vpn'), // OpenVPN half-default routes
  route('128.0.0.0/1', 'tun-vpn'),
  route('198.18.0.0/24', 'wlan0'),
  route('198.18.16.0/20', 'tun-vpn'),
  route('198.19.0.0/16', 'tel0'), // ours
  route('198.19.128.0/17', 'eth9', true), // flagged default by the OS
  route('::/0', 'wlan0'),
  route('2001:db8:1::/48', 'tun-vpn'),
];

function conflicts(
  subnets: string[],
  options: { ownInterfaces?: string[]; allow?: string[] } = {},
): string[] {
  const opts: RouteConflictOptions = {
    ...(options.ownInterfaces ? { ownInterfaces: options.ownInterfaces } : {}),
    ...(options.allow ? { allow: options.allow.map(parseCidr) } : {}),
  };
  return findRouteConflicts(subnets.map(parseCidr), TABLE, opts).map(formatRouteConflict);
}

describe('findRouteConflicts', () => {
  it.each<[string, string[], { ownInterfaces?: string[]; allow?: string[] }, string[]]>([
    ['no overlap', ['198.18.64.0/18'], {}, []],
    [
      'default, /1 and flagged-default routes never conflict',
      ['198.19.200.0/24', '2001:db8:2::/48'],
      { ownInterfaces: ['tel0'] },
      [],
    ],
    [
      'subnet covering a route',
      ['198.18.0.0/16'],
      {},
      [
        'subnet 198.18.0.0/16 overlaps with existing route 198.18.0.0/24 on dev wlan0',
        'subnet 198.18.0.0/16 overlaps with existing route 198.18.16.0/20 on dev tun-vpn',
      ],
    ],
    [
      'subnet inside a route',
      ['198.18.17.0/24'],
      {},
      ['subnet 198.18.17.0/24 overlaps with existing route 198.18.16.0/20 on dev tun-vpn'],
    ],
    [
      'IPv6',
      ['2001:db8::/32'],
      {},
      ['subnet 2001:db8::/32 overlaps with existing route 2001:db8:1::/48 on dev tun-vpn'],
    ],
    ['route on our own interface ignored', ['198.19.5.0/24'], { ownInterfaces: ['tel0'] }, []],
    [
      'route on our own interface conflicts if not named',
      ['198.19.5.0/24'],
      {},
      ['subnet 198.19.5.0/24 overlaps with existing route 198.19.0.0/16 on dev tel0'],
    ],
    ['exactly equal to an existing route is fine', ['198.18.16.0/20'], {}, []],
    ['covered by an allow entry', ['198.18.17.0/24', '198.18.0.0/24'], { allow: ['198.18.16.0/20'] }, []],
    [
      'allow must cover the subnet, not just overlap',
      ['198.18.0.0/16'],
      { allow: ['198.18.16.0/20'] },
      [
        'subnet 198.18.0.0/16 overlaps with existing route 198.18.0.0/24 on dev wlan0',
        'subnet 198.18.0.0/16 overlaps with existing route 198.18.16.0/20 on dev tun-vpn',
      ],
    ],
    ['no subnets', [], {}, []],
  ])('%s', (_name, subnets, options, want) => {
    expect(conflicts(subnets, options)).toEqual(want);
  });

  it('returns the subnet and route objects so the caller can build its own error', () => {
    const subnet: Cidr = parseCidr('198.18.0.0/23');
    const [c, ...rest] = findRouteConflicts([subnet], TABLE);
    expect(rest).toEqual([]);
    expect(c?.subnet).toBe(subnet);
    expect(c?.route).toBe(TABLE[3]);
  });

  it('equality with a route on our own interface does not hide a conflict elsewhere', () => {
    const table = [route('198.18.0.0/16', 'tel0'), route('198.18.5.0/24', 'eth0')];
    expect(
      findRouteConflicts([parseCidr('198.18.0.0/16')], table, { ownInterfaces: ['tel0'] }).map(
        formatRouteConflict,
      ),
    ).toEqual(['subnet 198.18.0.0/16 overlaps with existing route 198.18.5.0/24 on dev eth0']);
  });
});
