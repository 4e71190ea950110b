// The native addons (TUN, batched UDP) of the packaged binary. They travel inside it as assets, but Node
// loads an addon only from a file: the daemon (root) must never load one from a place another user can
// write. Order: the copy the Debian package installed (root-owned, next to the binary's libs), else an
// extracted copy in a directory only this user owns. Either file is used only if its SHA-256 equals the
// asset's, checked right before loading.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const INSTALLED_ADDON_DIR = '/usr/lib/telepresence';

export interface AddonSources {
  /** The addon's bytes as carried in the binary. */
  readonly asset: (name: string) => Buffer;
  readonly uid: number;
  readonly installedDir: string;
  readonly extractDir: string;
  /** process.dlopen, injectable for tests. */
  readonly dlopen: (file: string) => unknown;
}

/** Where to extract: root under /run (root-owned, never /tmp); others in their runtime or temp dir. */
export function defaultExtractDir(uid: number, env: NodeJS.ProcessEnv, tmpdir: string): string {
  if (uid === 0) return '/run/telepresence-addons';
  const base = env['XDG_RUNTIME_DIR'] || tmpdir;
  return path.join(base, `telepresence-addons-${uid}`);
}

const sha256 = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex');

/** Why `file` (and its directory) cannot be trusted by `uid`, or '' when it can. */
export function untrustedReason(file: string, uid: number): string {
  for (const p of [path.dirname(file), file]) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return `${p} does not exist`;
    }
    if (st.isSymbolicLink()) return `${p} is a symbolic link`;
    if (st.uid !== uid && st.uid !== 0) return `${p} is owned by uid ${st.uid}`;
    if ((st.mode & 0o022) !== 0) return `${p} is writable by other users`;
  }
  return '';
}

function matches(file: string, uid: number, digest: string): boolean {
  if (untrustedReason(file, uid) !== '') return false;
  try {
    return sha256(fs.readFileSync(file)) === digest;
  } catch {
    return false;
  }
}

/** Creates `dir` mode 0700 if needed and checks it is ours alone (not a link, not shared). */
export function ensurePrivateDir(dir: string, uid: number): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(
      `refusing to extract native addons into ${dir}: it must be a directory owned by uid ${uid} with mode 0700`,
    );
  }
}

/** The path of a verified copy of addon `name`, extracting it when needed. */
export function addonFile(name: string, sources: AddonSources): string {
  const bytes = sources.asset(`${name}.node`);
  const digest = sha256(bytes);
  const installed = path.join(sources.installedDir, `${name}.node`);
  if (matches(installed, 0, digest)) return installed;
  ensurePrivateDir(sources.extractDir, sources.uid);
  const extracted = path.join(sources.extractDir, `${name}-${digest.slice(0, 16)}.node`);
  if (matches(extracted, sources.uid, digest)) return extracted;
  const tmp = `${extracted}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes, { mode: 0o500, flag: 'wx' });
  fs.renameSync(tmp, extracted);
  if (!matches(extracted, sources.uid, digest))
    throw new Error(`the extracted addon ${extracted} does not match the one in the binary`);
  return extracted;
}

/** Loads addon `name` (its exports), as require() would. */
export function loadAddon(name: string, sources: AddonSources): unknown {
  return sources.dlopen(addonFile(name, sources));
}
