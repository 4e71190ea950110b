import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addonFile,
  defaultExtractDir,
  ensurePrivateDir,
  untrustedReason,
  type AddonSources,
} from './addons.js';

describe('native addons of the packaged binary', () => {
  let dir: string;
  const uid = process.getuid!();
  const bytes = Buffer.from('pretend this is tun.node');
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-addons-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sources = (over: Partial<AddonSources> = {}): AddonSources => ({
    asset: (key) => {
      if (key !== 'tun.node') throw new Error(`no asset ${key}`);
      return bytes;
    },
    uid,
    installedDir: path.join(dir, 'installed'),
    extractDir: path.join(dir, 'extract'),
    dlopen: (file) => file,
    ...over,
  });

  it('root extracts under /run, never into a shared temp dir; others into their own runtime dir', () => {
    expect(defaultExtractDir(0, { XDG_RUNTIME_DIR: '/tmp' }, '/tmp')).toBe('/run/telepresence-addons');
    expect(defaultExtractDir(1000, { XDG_RUNTIME_DIR: '/run/user/1000' }, '/tmp')).toBe(
      '/run/user/1000/telepresence-addons-1000',
    );
    expect(defaultExtractDir(1000, {}, '/tmp')).toBe('/tmp/telepresence-addons-1000');
  });

  it('extracts into a 0700 directory of its own and reuses a verified copy', () => {
    const file = addonFile('tun', sources());
    expect(file).toBe(path.join(dir, 'extract', `tun-${digest.slice(0, 16)}.node`));
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(fs.statSync(path.join(dir, 'extract')).mode & 0o777).toBe(0o700);
    const mtime = fs.statSync(file).mtimeMs;
    expect(addonFile('tun', sources())).toBe(file);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
  });

  it('replaces an extracted copy whose checksum does not match', () => {
    const file = addonFile('tun', sources());
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'tampered');
    expect(addonFile('tun', sources())).toBe(file);
    expect(fs.readFileSync(file)).toEqual(bytes);
  });

  it('uses the installed copy only when root owns it, nobody else can write it, and it matches', () => {
    fs.mkdirSync(path.join(dir, 'installed'), { mode: 0o755 });
    const installed = path.join(dir, 'installed', 'tun.node');
    fs.writeFileSync(installed, bytes, { mode: 0o644 });
    if (uid === 0) expect(addonFile('tun', sources())).toBe(installed);
    fs.chmodSync(installed, 0o666);
    expect(untrustedReason(installed, 0)).toBe(`${installed} is writable by other users`);
    expect(addonFile('tun', sources())).toContain(path.join(dir, 'extract'));
    fs.chmodSync(installed, 0o644);
    fs.writeFileSync(installed, 'other bytes');
    expect(addonFile('tun', sources())).toContain(path.join(dir, 'extract'));
  });

  it('refuses an extraction directory that others can write or that is a link', () => {
    const shared = path.join(dir, 'shared');
    fs.mkdirSync(shared, { mode: 0o777 });
    fs.chmodSync(shared, 0o777);
    expect(() => ensurePrivateDir(shared, uid)).toThrow(
      /must be a directory owned by uid \d+ with mode 0700/,
    );
    const link = path.join(dir, 'link');
    fs.mkdirSync(path.join(dir, 'target'), { mode: 0o700 });
    fs.symlinkSync(path.join(dir, 'target'), link);
    expect(() => ensurePrivateDir(link, uid)).toThrow(/refusing to extract/);
    expect(() => addonFile('tun', sources({ extractDir: shared }))).toThrow(/refusing to extract/);
  });
});
