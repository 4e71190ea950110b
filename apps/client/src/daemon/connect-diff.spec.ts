import type { daemon } from '@telepresence/rpc';

import { alreadyConnectedError, connectDifferences } from './connect-diff.js';

const request = (over: Partial<daemon.ConnectRequest> = {}): daemon.ConnectRequest => ({
  namespace: '',
  managerNamespace: 'ambassador',
  context: '',
  kubeconfig: '/home/u/.kube/config',
  managerAddress: '',
  alsoProxy: [],
  neverProxy: [],
  allowConflictingSubnets: [],
  mappedNamespaces: [],
  dnsIncludeSuffixes: [],
  dnsExcludeSuffixes: [],
  dns: '',
  kubeconfigYaml: '',
  execPlugin: undefined,
  configYaml: '',
  ...over,
});

describe('connectDifferences', () => {
  const active = request({ namespace: 'default', neverProxy: ['198.18.5.0/24'] });

  it('finds none for the same flags, or for flags left out', () => {
    expect(connectDifferences(active, request({ neverProxy: ['198.18.5.0/24'] }))).toEqual([]);
    expect(connectDifferences(active, request())).toEqual([]);
    expect(connectDifferences(active, request({ namespace: 'default' }))).toEqual([]);
  });

  it.each([
    [{ namespace: 'other' }, '--namespace is "default" (asked: "other")'],
    [{ neverProxy: ['198.18.6.0/24'] }, '--never-proxy is 198.18.5.0/24 (asked: 198.18.6.0/24)'],
    [{ alsoProxy: ['198.18.7.0/24'] }, '--also-proxy is none (asked: 198.18.7.0/24)'],
    [{ mappedNamespaces: ['a', 'b'] }, '--mapped-namespaces is none (asked: a,b)'],
    [
      { managerAddress: '198.19.255.9:8081' },
      '--manager-address is "(default)" (asked: "198.19.255.9:8081")',
    ],
    [{ context: 'prod' }, '--context is "(default)" (asked: "prod")'],
    [{ configYaml: 'dns: {}' }, 'the config file changed since this connection was made'],
  ] as Array<[Partial<daemon.ConnectRequest>, string]>)('names %p', (over, phrase) => {
    expect(
      connectDifferences(active, request({ ...over, neverProxy: over.neverProxy ?? ['198.18.5.0/24'] })),
    ).toEqual([phrase]);
  });

  it('compares lists as sets', () => {
    const two = request({ namespace: 'default', neverProxy: ['198.18.5.0/24', '198.18.6.0/24'] });
    expect(connectDifferences(two, request({ neverProxy: ['198.18.6.0/24', '198.18.5.0/24'] }))).toEqual([]);
  });

  it('makes one error naming every difference and how to apply them', () => {
    const err = alreadyConnectedError(
      connectDifferences(active, request({ namespace: 'x', dns: '198.19.255.1' })),
    );
    expect(err.message).toBe(
      'already connected with other settings: --namespace is "default" (asked: "x"); --dns is "(default)" (asked: "198.19.255.1"); nothing was changed',
    );
    expect(err.hint).toBe('run telepresence quit, then connect with the new settings');
    expect(err.category).toBe('user');
  });
});
