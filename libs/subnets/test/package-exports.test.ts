// Builds the package and imports it by name from the repository root in plain Node ESM, the way apps
// and tools/bench load it, so a broken "exports" map, a missing .js extension or a type-only export
// that should be a value fails here and not at runtime elsewhere.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(packageDir, '../..');

const SCRIPT = `
import * as subnets from '@telepresence/subnets';
import { coveringCidrs, pruneCovered, parseCidr, formatCidr } from '@telepresence/subnets';
const covering = coveringCidrs(['198.18.0.1', '198.18.1.7', '2001:db8::1']).map(formatCidr);
const pruned = pruneCovered(['198.18.0.0/24', '198.18.0.0/16'].map(parseCidr)).map(formatCidr);
let error = '';
try { parseCidr('1.2.3.4/33'); } catch (e) { error = e.name + ': ' + e.message; }
console.log(JSON.stringify({ covering, pruned, error, exports: Object.keys(subnets).sort() }));
`;

describe('@telepresence/subnets as a built package', () => {
  it('imports by name from the repo root after npm run build', () => {
    execFileSync('npm', ['run', 'build', '-w', '@telepresence/subnets'], { cwd: repoRoot, stdio: 'pipe' });
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    const result = JSON.parse(out) as {
      covering: string[];
      pruned: string[];
      error: string;
      exports: string[];
    };
    expect(result.covering).toEqual(['198.18.0.0/23', '2001:db8::/120']);
    expect(result.pruned).toEqual(['198.18.0.0/16']);
    expect(result.error).toBe(
      'CidrError: invalid CIDR "1.2.3.4/33": prefix length 33 is out of range for IPv4 (0-32)',
    );
    expect(result.exports).toEqual(
      [
        'CidrError',
        'cidrFromIpNet',
        'cidrOfIp',
        'cidrToIpNet',
        'compareCidrs',
        'contains',
        'coveringCidrs',
        'covers',
        'equal',
        'familyBits',
        'findRouteConflicts',
        'firstIp',
        'formatCidr',
        'formatIp',
        'formatRouteConflict',
        'hostMask',
        'ipFromBytes',
        'ipTextFromBytes',
        'ipTextToBytes',
        'ipToBytes',
        'isLoopback',
        'isLoopbackIp',
        'lastIp',
        'makeCidr',
        'overlaps',
        'parseCidr',
        'parseIp',
        'pruneCovered',
        'size',
        'subtract',
        'subtractAll',
        'tightCoveringCidrs',
      ].sort(),
    );
  }, 120_000);

  it('does not expose internal modules', () => {
    expect(() =>
      execFileSync(
        process.execPath,
        ['--input-type=module', '-e', "import '@telepresence/subnets/dist/ip.js'"],
        {
          cwd: repoRoot,
          stdio: 'pipe',
        },
      ),
    ).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
