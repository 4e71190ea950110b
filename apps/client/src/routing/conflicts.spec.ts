import { findRouteConflicts, parseCidr } from '@telepresence/subnets';
import { conflictError, type ExistingRoute } from './conflicts.js';
import { parseIpRouteJson } from './route-table.linux.js';

const routesJson = JSON.stringify([
  { dst: 'default', gateway: '198.19.255.1', dev: 'eth0' },
  { dst: '0.0.0.0/1', gateway: '198.19.255.1', dev: 'vpn0' },
  { dst: '198.19.255.0/24', dev: 'eth0', protocol: 'kernel' },
  { dst: '198.18.5.0/24', dev: 'vpn1', table: '100' },
  { type: 'local', dst: '198.19.255.2', dev: 'eth0', table: 'local' },
  { type: 'broadcast', dst: '198.19.255.255', dev: 'eth0', table: 'local' },
  { dst: '198.18.0.0/16', dev: 'tel0' },
]);

describe('route conflicts', () => {
  const routes = parseIpRouteJson(routesJson, 4);

  it('parses ip -j route output, skipping default and broadcast entries', () => {
    expect(routes.map((r) => r.text)).toEqual([
      '0.0.0.0/1 via 198.19.255.1 dev vpn0',
      '198.19.255.0/24 dev eth0',
      '198.18.5.0/24 dev vpn1 table 100',
      'local 198.19.255.2 dev eth0 table local',
      '198.18.0.0/16 dev tel0',
    ]);
  });

  it.each([
    { subnet: '198.18.0.0/16', allow: [], want: ['198.18.5.0/24 dev vpn1 table 100'] },
    { subnet: '198.18.5.128/25', allow: [], want: ['198.18.5.0/24 dev vpn1 table 100'] },
    { subnet: '198.18.0.0/16', allow: ['198.18.0.0/16'], want: [] },
    { subnet: '198.18.6.0/24', allow: [], want: [] },
    {
      subnet: '198.19.255.0/30',
      allow: [],
      want: ['198.19.255.0/24 dev eth0', 'local 198.19.255.2 dev eth0 table local'],
    },
  ])('$subnet (allow $allow)', ({ subnet, allow, want }) => {
    const conflicts = findRouteConflicts([parseCidr(subnet)], routes, {
      allow: allow.map((a) => parseCidr(a)),
      ownInterfaces: ['tel0'],
    });
    expect(conflicts.map((c) => (c.route as ExistingRoute).text)).toEqual(want);
  });

  it('names both routes and the flag in the error', () => {
    const conflicts = findRouteConflicts([parseCidr('198.18.0.0/16')], routes, {
      allow: [],
      ownInterfaces: ['tel0'],
    });
    const err = conflictError(conflicts);
    expect(err.message).toBe(
      'subnet 198.18.0.0/16 overlaps with existing route "198.18.5.0/24 dev vpn1 table 100"',
    );
    expect(err.hint).toContain('--allow-conflicting-subnets 198.18.0.0/16');
    expect(err.category).toBe('config');
  });
});
