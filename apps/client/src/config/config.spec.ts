import { DEFAULT_CONFIG, configFilePath, mergeConfig, parseConfigYaml } from './config.js';

describe('config', () => {
  it('parses a full file', () => {
    const layer = parseConfigYaml(
      `
routing:
  alsoProxy: [198.18.200.0/24]
  neverProxy: [198.18.1.5/32]
dns:
  localIP: 198.19.255.1
  includeSuffixes: [.test]
  lookupTimeout: 2s
timeouts:
  trafficManagerConnect: 1m30s
logLevels:
  rootDaemon: debug
`,
      'config.yml',
    );
    expect(layer).toEqual({
      routing: { alsoProxy: ['198.18.200.0/24'], neverProxy: ['198.18.1.5/32'] },
      dns: { upstream: '198.19.255.1', includeSuffixes: ['.test'], lookupTimeoutMs: 2000 },
      timeouts: { trafficManagerConnectMs: 90_000 },
      logLevel: 'debug',
    });
  });

  it('accepts the chart shape under client:', () => {
    expect(parseConfigYaml('client:\n  routing:\n    alsoProxySubnets: [198.18.9.0/24]\n', 'f')).toEqual({
      routing: { alsoProxy: ['198.18.9.0/24'] },
    });
  });

  it.each([
    ['routing: [1]', /f: routing: must be a mapping/],
    ['routing:\n  alsoProxy: 198.18.0.0/16', /routing.alsoProxy: must be a list of strings/],
    ['routing:\n  neverProxy: [198.18.0.0/99]', /routing.neverProxy: invalid CIDR/],
    ['timeouts:\n  endpointDial: soon', /timeouts.endpointDial: invalid duration/],
    ['logLevels:\n  rootDaemon: loud', /unknown level "loud"/],
    ['a: [', /not valid YAML/],
  ])('rejects %j', (text, want) => {
    expect(() => parseConfigYaml(text, 'f')).toThrow(want);
  });

  it('treats an empty file as no settings', () => {
    expect(parseConfigYaml('', 'f')).toEqual({});
    expect(mergeConfig([{}])).toEqual(DEFAULT_CONFIG);
  });

  describe('merge: pushed < file < flags', () => {
    const pushed = {
      routing: { neverProxy: ['198.18.3.0/24'] },
      dns: { excludeSuffixes: ['.com'], includeSuffixes: ['.pushed'] },
    };
    const file = { dns: { includeSuffixes: ['.file'], upstream: '198.19.255.1' }, logLevel: 'debug' };
    const flags = {
      routing: { neverProxy: ['198.18.4.0/24'], alsoProxy: ['198.18.9.0/24'] },
      dns: { upstream: '198.19.255.9' },
    };
    const merged = mergeConfig([pushed, file, flags]);

    it('unions routing lists from all layers', () => {
      expect(merged.routing.neverProxy).toEqual(['198.18.3.0/24', '198.18.4.0/24']);
      expect(merged.routing.alsoProxy).toEqual(['198.18.9.0/24']);
    });
    it('flags win over the file', () => expect(merged.dns.upstream).toBe('198.19.255.9'));
    it('the file wins over pushed defaults', () => expect(merged.dns.includeSuffixes).toEqual(['.file']));
    it('pushed defaults win over built-in defaults', () =>
      expect(merged.dns.excludeSuffixes).toEqual(['.com']));
    it('keeps defaults nobody set', () => expect(merged.timeouts).toEqual(DEFAULT_CONFIG.timeouts));
    it('takes scalars from the file', () => expect(merged.logLevel).toBe('debug'));
  });

  it('finds the file under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configFilePath({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/x/telepresence/config.yml');
    expect(configFilePath({ HOME: '/h' })).toBe('/h/.config/telepresence/config.yml');
  });
});
