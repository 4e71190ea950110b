import { parseConfigYaml } from '../config/config.js';
import { NOT_CONNECTED } from '../daemon/not-connected.js';
import { configValues, formatConfigValues, pushedLayerOf } from './config-view.js';

describe('telepresence config view', () => {
  it('shows every merged value with its source: the file for what it sets, default for the rest', () => {
    const file = '/home/u/.config/telepresence/config.yml';
    const values = configValues([
      {
        layer: parseConfigYaml('dns:\n  lookupTimeout: 3s\nlogLevels:\n  rootDaemon: debug\n', file),
        source: file,
      },
    ]);
    expect(values).toContainEqual({ key: 'dns.lookupTimeoutMs', value: 3000, source: file });
    expect(values).toContainEqual({ key: 'logLevel', value: 'debug', source: file });
    expect(values).toContainEqual({ key: 'timeouts.endpointDialMs', value: 3000, source: 'default' });
    expect(values).toContainEqual({
      key: 'dns.excludeSuffixes',
      value: ['.com', '.io', '.net', '.org', '.ru'],
      source: 'default',
    });
    const text = formatConfigValues(values, false).split('\n');
    expect(text).toContainEqual(expect.stringMatching(/^dns\.lookupTimeoutMs: 3000 +# \/home\/u\/\.config/));
    expect(JSON.parse(formatConfigValues(values, true))['logLevel']).toEqual({
      value: 'debug',
      source: file,
    });
  });

  it("shows the cluster-pushed layer (a connected daemon's) below the file, with its origin", () => {
    const file = '/home/u/.config/telepresence/config.yml';
    const origin = 'cluster: traffic-manager 0.1.0 in namespace ambassador, chart values client:';
    const status = {
      ...NOT_CONNECTED,
      connected: true,
      pushedConfig: {
        origin,
        layerJson: JSON.stringify({
          routing: { alsoProxy: ['198.18.7.0/24'], neverProxy: [], allowConflicting: [] },
          dns: { includeSuffixes: ['.corp'], excludeSuffixes: ['.com'] },
        }),
      },
    };
    const pushed = pushedLayerOf(status);
    expect(pushed?.source).toBe(origin);
    const fileLayer = {
      layer: parseConfigYaml(
        'routing:\n  alsoProxy: [198.18.9.0/24]\ndns:\n  excludeSuffixes: [.net]\n',
        file,
      ),
      source: file,
    };
    const values = configValues([pushed!, fileLayer]);
    const of = (key: string) => values.find((v) => v.key === key);
    expect(of('dns.includeSuffixes')).toEqual({
      key: 'dns.includeSuffixes',
      value: ['.corp'],
      source: origin,
    });
    expect(of('dns.excludeSuffixes')).toEqual({ key: 'dns.excludeSuffixes', value: ['.net'], source: file });
    // Lists that add up name every layer that added to them; an empty pushed list adds nothing.
    expect(of('routing.alsoProxy')).toEqual({
      key: 'routing.alsoProxy',
      value: ['198.18.7.0/24', '198.18.9.0/24'],
      source: `${origin} + ${file}`,
    });
    expect(of('routing.neverProxy')?.source).toBe('default');
    expect(of('logLevel')?.source).toBe('default');
    expect(formatConfigValues(values, false)).toMatch(
      /^dns\.includeSuffixes: \[".corp"\] +# cluster: traffic-manager/m,
    );
  });

  it('has no cluster layer when not connected', () => {
    expect(pushedLayerOf(NOT_CONNECTED)).toBeUndefined();
    expect(pushedLayerOf(undefined)).toBeUndefined();
  });
});
