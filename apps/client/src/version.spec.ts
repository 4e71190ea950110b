import fs from 'node:fs';
import { describeVersions } from './cli/version-command.js';
import { CLIENT_VERSION, compatibleVersion } from './version.js';

describe('versions', () => {
  it('the client version is the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(CLIENT_VERSION).toBe(pkg.version);
  });

  it('compatible: same major, and for 0.x the same minor', () => {
    expect(compatibleVersion('0.1.7', '0.1.0')).toBe(true);
    expect(compatibleVersion('v0.1.0', '0.1.0')).toBe(true);
    expect(compatibleVersion('0.2.0', '0.1.0')).toBe(false);
    expect(compatibleVersion('1.4.0', '1.0.0')).toBe(true);
    expect(compatibleVersion('2.0.0', '1.9.0')).toBe(false);
    expect(compatibleVersion('', '1.0.0')).toBe(false);
  });

  it('lists the client, daemon and manager versions and warns on a mismatch', () => {
    expect(describeVersions('', '')).toEqual({ lines: [`Client: v${CLIENT_VERSION}`], warnings: [] });
    const r = describeVersions(CLIENT_VERSION, '9.0.0');
    expect(r.lines).toEqual([
      `Client: v${CLIENT_VERSION}`,
      `Root daemon: v${CLIENT_VERSION}`,
      'Traffic manager: v9.0.0',
    ]);
    expect(r.warnings).toEqual([
      `the traffic manager is v9.0.0, this client v${CLIENT_VERSION} cannot work with it; install a client or traffic-manager of matching versions`,
    ]);
  });
});
