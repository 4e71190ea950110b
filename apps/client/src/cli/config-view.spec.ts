import { parseConfigYaml } from '../config/config.js';
import { configValues, formatConfigValues } from './config-view.js';

describe('telepresence config view', () => {
  it('shows every merged value with its source: the file for what it sets, default for the rest', () => {
    const file = '/home/u/.config/telepresence/config.yml';
    const values = configValues(
      parseConfigYaml('dns:\n  lookupTimeout: 3s\nlogLevels:\n  rootDaemon: debug\n', file),
      file,
    );
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
});
