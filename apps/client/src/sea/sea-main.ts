// The packaged binary's entry point (a Node single-executable application; tools/package builds it). The
// bundler routes the libraries' addon loads (libs/netstack tun.node, libs/dns-core udp.node) to
// globalThis.__telepresenceLoadAddon, defined here over the assets the binary carries.
import os from 'node:os';
import { getAsset } from 'node:sea';
import { runCli } from '../run-cli.js';
import { defaultExtractDir, INSTALLED_ADDON_DIR, loadAddon } from './addons.js';

declare global {
  var __telepresenceLoadAddon: (name: string) => unknown;
}

globalThis.__telepresenceLoadAddon = (name) => {
  const uid = process.getuid?.() ?? -1;
  return loadAddon(name, {
    asset: (key) => Buffer.from(getAsset(key)),
    uid,
    installedDir: INSTALLED_ADDON_DIR,
    extractDir: defaultExtractDir(uid, process.env, os.tmpdir()),
    dlopen: (file) => {
      const module = { exports: {} };
      process.dlopen(module, file);
      return module.exports;
    },
  });
};

runCli('').catch((e: unknown) => {
  process.stderr.write(`telepresence: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
