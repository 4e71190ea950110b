import { formatCidr, parseCidr, type Cidr } from '@telepresence/subnets';
import { computeRoutedSet, type RoutedSetInput } from './routed-set.js';

const c = (s: string): Cidr => parseCidr(s);
const fmt = (list: readonly Cidr[]): string[] => list.map((x) => formatCidr(x));

const base: RoutedSetInput = {
  serviceSubnet: c('198.19.0.0/20'),
  podSubnets: [c('198.18.1.0/24'), c('198.18.2.0/24')],
  alsoProxy: [],
  neverProxy: [],
  apiServerIps: [],
};

describe('computeRoutedSet', () => {
  const table: { name: string; input: Partial<RoutedSetInput>; routed: string[]; never?: string[] }[] = [
    {
      name: 'service and pod subnets',
      input: {},
      routed: ['198.18.1.0/24', '198.18.2.0/24', '198.19.0.0/20'],
    },
    {
      name: 'covered pod subnets pruned',
      input: { podSubnets: [c('198.18.0.0/16'), c('198.18.1.0/24')] },
      routed: ['198.18.0.0/16', '198.19.0.0/20'],
    },
    {
      name: 'also-proxy added',
      input: { alsoProxy: [c('198.18.200.0/24')] },
      routed: ['198.18.1.0/24', '198.18.2.0/24', '198.18.200.0/24', '198.19.0.0/20'],
    },
    {
      name: 'never-proxy /32 of one pod carves it out',
      input: { podSubnets: [c('198.18.1.0/30')], neverProxy: [c('198.18.1.1/32')] },
      routed: ['198.18.1.0/32', '198.18.1.2/31', '198.19.0.0/20'],
      never: ['198.18.1.1/32'],
    },
    {
      name: 'also-proxy inside never-proxy wins',
      input: {
        podSubnets: [c('198.18.1.0/24')],
        neverProxy: [c('198.18.1.0/25')],
        alsoProxy: [c('198.18.1.8/29')],
      },
      routed: ['198.18.1.8/29', '198.18.1.128/25', '198.19.0.0/20'],
    },
    {
      name: 'never-proxy inside also-proxy wins',
      input: { podSubnets: [], alsoProxy: [c('198.18.7.0/30')], neverProxy: [c('198.18.7.2/31')] },
      routed: ['198.18.7.0/31', '198.19.0.0/20'],
    },
    {
      name: 'API server address removed',
      input: { serviceSubnet: c('198.19.0.0/30'), podSubnets: [], apiServerIps: ['198.19.0.1'] },
      routed: ['198.19.0.0/32', '198.19.0.2/31'],
      never: ['198.19.0.1/32'],
    },
    {
      name: 'API server outside the routed set changes nothing',
      input: { apiServerIps: ['198.19.255.1'] },
      routed: ['198.18.1.0/24', '198.18.2.0/24', '198.19.0.0/20'],
      never: [],
    },
    {
      name: 'no service subnet',
      input: { serviceSubnet: undefined },
      routed: ['198.18.1.0/24', '198.18.2.0/24'],
    },
    {
      name: 'a /32 also-proxy',
      input: { podSubnets: [], serviceSubnet: undefined, alsoProxy: [c('198.18.9.9/32')] },
      routed: ['198.18.9.9/32'],
    },
    {
      name: 'IPv6',
      input: {
        serviceSubnet: c('2001:db8:1::/112'),
        podSubnets: [c('2001:db8:2::/64')],
        neverProxy: [c('2001:db8:2::/65')],
      },
      routed: ['2001:db8:1::/112', '2001:db8:2:0:8000::/65'],
    },
  ];
  it.each(table)('$name', ({ input, routed, never }) => {
    const result = computeRoutedSet({ ...base, ...input });
    expect(fmt(result.routed)).toEqual(routed);
    if (never) expect(fmt(result.neverProxied)).toEqual(never);
  });

  it('reports never-proxy subnets that cut nothing as dropped', () => {
    const result = computeRoutedSet({ ...base, neverProxy: [c('198.18.99.0/24')] });
    expect(fmt(result.droppedNeverProxy)).toEqual(['198.18.99.0/24']);
    expect(result.neverProxied).toEqual([]);
  });

  it('refuses loopback also-proxy', () => {
    expect(() => computeRoutedSet({ ...base, alsoProxy: [c('127.0.0.0/16')] })).toThrow(
      /overlaps loopback 127.0.0.0\/8/,
    );
  });

  it('never routes loopback even from the cluster', () => {
    const result = computeRoutedSet({ ...base, serviceSubnet: undefined, podSubnets: [c('126.0.0.0/7')] });
    expect(fmt(result.routed)).toEqual(['126.0.0.0/8']);
  });
});
