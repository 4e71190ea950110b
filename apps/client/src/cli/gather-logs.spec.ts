import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonPaths } from '../daemon/paths.js';
import { gatherLogs } from './gather-logs.js';
import { redactSecrets } from './redact.js';

describe('telepresence gather-logs', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-gather-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const untar = (archive: string): Map<string, string> => {
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    const files = new Map<string, string>();
    for (const e of fs.readdirSync(out, { recursive: true, withFileTypes: true }))
      if (e.isFile())
        files.set(
          path.relative(out, path.join(e.parentPath, e.name)),
          fs.readFileSync(path.join(e.parentPath, e.name), 'utf8'),
        );
    return files;
  };

  it('archives the daemon log, status, version, config and cluster logs, with every secret redacted', async () => {
    const paths = daemonPaths(path.join(dir, 'run'));
    fs.mkdirSync(paths.runDir);
    fs.writeFileSync(
      paths.logFile,
      '{"msg":"daemon serving"}\n{"headers":{"Authorization":"Bearer sekrit-123"}}\n',
    );
    fs.mkdirSync(path.join(dir, 'telepresence'));
    fs.writeFileSync(
      path.join(dir, 'telepresence/config.yml'),
      'dns:\n  lookupTimeout: 3s\nextensions:\n  token: my-config-token\n',
    );
    const r = await gatherLogs({
      paths,
      env: { XDG_CONFIG_HOME: dir },
      output: path.join(dir, 'logs.tar.gz'),
      clusterLogs: async () => [
        { name: 'traffic-manager/tm-1.log', text: 'manager up; client password=hunter2' },
        { name: 'traffic-agents/default/echo-1.log', text: 'agent up eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl' },
      ],
    });
    expect(r.errors).toEqual([]);
    const files = untar(r.archive);
    expect([...files.keys()].sort()).toEqual([
      'cluster/traffic-agents/default/echo-1.log',
      'cluster/traffic-manager/tm-1.log',
      'config-view.txt',
      'config.yml',
      'daemon.log',
      'status.json',
      'version.txt',
    ]);
    const all = [...files.values()].join('\n');
    for (const secret of ['sekrit-123', 'my-config-token', 'hunter2', 'eyJhbGciOi'])
      expect(all).not.toContain(secret);
    expect(files.get('config.yml')).toContain('token: [REDACTED]');
    expect(files.get('daemon.log')).toContain('daemon serving');
    expect(files.get('config-view.txt')).toMatch(/dns\.lookupTimeoutMs: 3000 +# .*config\.yml/);
    expect(JSON.parse(files.get('status.json')!)).toMatchObject({ connected: false });
    expect(files.get('version.txt')).toMatch(/^Client: v/);
  });

  it('lists what it could not collect in errors.txt and still writes the archive', async () => {
    const r = await gatherLogs({
      paths: daemonPaths(path.join(dir, 'none')),
      env: { XDG_CONFIG_HOME: dir },
      output: path.join(dir, 'logs.tar.gz'),
      clusterLogs: async () => {
        throw new Error('connect ECONNREFUSED 198.18.0.1:6443');
      },
    });
    expect(r.errors).toEqual([
      expect.stringMatching(/^daemon log: ENOENT/),
      'cluster logs: connect ECONNREFUSED 198.18.0.1:6443',
    ]);
    expect(untar(r.archive).get('errors.txt')).toContain('cluster logs: connect ECONNREFUSED');
  });

  it('redacts keyed secrets, bearer headers and JWTs, and leaves other text alone', () => {
    expect(redactSecrets('token: abc\nclient-key-data: LS0t\n"password":"p4ss"')).toBe(
      'token: [REDACTED]\nclient-key-data: [REDACTED]\n"password":"[REDACTED]"',
    );
    expect(redactSecrets('Authorization: Bearer x.y.z')).toBe('Authorization: Bearer [REDACTED]');
    expect(redactSecrets('level=info msg="route 198.18.0.0/16 added"')).toBe(
      'level=info msg="route 198.18.0.0/16 added"',
    );
  });
});
