// `npm run package`: the packaged client for linux-x64, built from the compiled workspace (npm run build).
//   dist/package/telepresence             a Node single-executable application: this machine's node binary
//                                         with the bundled CLI+daemon and the native addons as assets
//   dist/package/telepresence_V_amd64.deb  /usr/bin/telepresence, the addons in /usr/lib/telepresence,
//                                         copyright (licences of everything inside), man page, completions
// See tools/package/README.md.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { manPage } from './man-page.mjs';
import { copyrightFile } from './copyright.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'dist/package');
const work = path.join(out, 'work');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const version = JSON.parse(fs.readFileSync(path.join(root, 'apps/client/package.json'), 'utf8')).version;

// The libraries load their addons with createRequire(import.meta.url)('../../build/Release/X.node'); in the
// binary that path does not exist, so those loads go to the loader sea-main.ts defines.
const ADDONS = {
  tun: { loader: 'libs/netstack/dist/tun/native.js', file: 'libs/netstack/build/Release/tun.node' },
  udp: { loader: 'libs/dns-core/dist/udp/native-addon.js', file: 'libs/dns-core/build/Release/udp.node' },
};

const addonLoaders = {
  name: 'telepresence-addons',
  setup(build) {
    for (const [name, addon] of Object.entries(ADDONS)) {
      const loader = path.join(root, addon.loader);
      build.onLoad({ filter: new RegExp(`${path.basename(loader).replace('.', '\\.')}$`) }, (args) => {
        if (fs.realpathSync(args.path) !== fs.realpathSync(loader)) return undefined;
        const source = fs.readFileSync(args.path, 'utf8');
        const call = `require('../../build/Release/${name}.node')`;
        if (source.split(call).length !== 2)
          throw new Error(`${addon.loader} no longer loads its addon with ${call}: update tools/package`);
        return {
          contents: source
            .replace(call, `globalThis.__telepresenceLoadAddon('${name}')`)
            .replace('createRequire(import.meta.url)', 'undefined'),
          loader: 'js',
        };
      });
    }
  },
};

// Optional dependencies the binary does without: ws's native speed-ups (it falls back to JS when their
// require throws) and dbus-next's X11 bus lookup and abstract-socket transport (the daemon uses the system
// bus's plain unix socket). A require() of anything but a built-in in a SEA prints a warning, so these
// resolve to a module that throws instead of staying external.
const LEFT_OUT = ['bufferutil', 'utf-8-validate', 'x11', 'usocket'];
const leftOut = {
  name: 'left-out',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${LEFT_OUT.join('|')})$`) }, (args) => ({
      path: args.path,
      namespace: 'left-out',
    }));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not part of the packaged telepresence`)});`,
      loader: 'js',
    }));
  },
};

function step(text) {
  process.stdout.write(`package: ${text}\n`);
}

/** Runs a tool; its stderr is shown only when it fails (postject warns about every ELF note section). */
function sh(cmd, args, options = {}) {
  try {
    return execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  } catch (e) {
    process.stderr.write(e.stderr ?? '');
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed`);
  }
}

async function bundle() {
  step('bundling the client (esbuild)');
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'apps/client/dist/sea/sea-main.js')],
    outfile: path.join(work, 'telepresence.cjs'),
    absWorkingDir: root, // the metafile's paths are relative to it (copyright.mjs reads them)
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    define: { 'import.meta.url': '__telepresenceMetaUrl' },
    banner: { js: 'var __telepresenceMetaUrl=require("url").pathToFileURL(process.execPath).href;' },
    plugins: [addonLoaders, leftOut],
  });
  return result.metafile;
}

function buildSea() {
  step('building the single-executable application');
  const assets = {};
  for (const [name, addon] of Object.entries(ADDONS)) {
    const file = path.join(root, addon.file);
    if (!fs.existsSync(file)) throw new Error(`${addon.file} is missing: run npm run build first`);
    assets[`${name}.node`] = file;
  }
  const config = {
    main: path.join(work, 'telepresence.cjs'),
    output: path.join(work, 'sea-prep.blob'),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets,
  };
  fs.writeFileSync(path.join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
  sh(process.execPath, ['--experimental-sea-config', path.join(work, 'sea-config.json')]);
  const binary = path.join(out, 'telepresence');
  fs.copyFileSync(process.execPath, binary);
  fs.chmodSync(binary, 0o755);
  sh(process.execPath, [
    path.join(root, 'node_modules/postject/dist/cli.js'),
    binary,
    'NODE_SEA_BLOB',
    config.output,
    '--sentinel-fuse',
    SEA_FUSE,
  ]);
  return binary;
}

function buildDeb(binary, metafile) {
  step('building the Debian package');
  const stage = path.join(work, 'deb');
  fs.rmSync(stage, { recursive: true, force: true });
  const put = (rel, content, mode = 0o644) => {
    const file = path.join(stage, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode);
  };
  put('usr/bin/telepresence', fs.readFileSync(binary), 0o755);
  for (const [name, addon] of Object.entries(ADDONS))
    put(`usr/lib/telepresence/${name}.node`, fs.readFileSync(path.join(root, addon.file)), 0o644);
  put('usr/share/doc/telepresence/copyright', copyrightFile(root, metafile));
  const help = (args) =>
    sh(binary, [...args, '--help'], { env: { ...process.env, COLUMNS: '100' } }).toString();
  put('usr/share/man/man1/telepresence.1.gz', sh('gzip', ['-9n'], { input: manPage(version, help) }));
  const completion = (shell) => sh(binary, ['completion', shell]);
  put('usr/share/bash-completion/completions/telepresence', completion('bash'));
  put('usr/share/zsh/vendor-completions/_telepresence', completion('zsh'));
  const installedKiB = Math.ceil(
    fs
      .readdirSync(stage, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((n, e) => n + fs.statSync(path.join(e.parentPath, e.name)).size, 0) / 1024,
  );
  put(
    'DEBIAN/control',
    [
      'Package: telepresence',
      `Version: ${version}`,
      'Architecture: amd64',
      'Maintainer: Telepresence TypeScript re-implementation <telepresence@localhost>',
      `Installed-Size: ${installedKiB}`,
      // util-linux 2.36 has setpriv (the daemon runs exec credential plugins as the user with it).
      'Depends: libc6 (>= 2.28), libstdc++6, iproute2, nftables, util-linux (>= 2.36)',
      'Recommends: sudo',
      'Section: net',
      'Priority: optional',
      'Description: reach a Kubernetes cluster network from this workstation',
      ' telepresence connects the workstation to a cluster with a traffic-manager: cluster',
      ' names resolve and cluster addresses route through a TUN device, and workload traffic',
      ' can be intercepted to a local process. The CLI runs as the user; only its network',
      ' daemon runs as root (started through sudo).',
      '',
    ].join('\n'),
  );
  const deb = path.join(out, `telepresence_${version}_amd64.deb`);
  // zstd: xz takes minutes on the ~100 MB binary here, zstd seconds (dpkg >= 1.21.18 reads it).
  sh('dpkg-deb', ['--root-owner-group', '-Zzstd', '--build', stage, deb]);
  return deb;
}

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const metafile = await bundle();
const binary = buildSea();
const deb = buildDeb(binary, metafile);
for (const file of [binary, deb]) {
  const mib = (fs.statSync(file).size / 1048576).toFixed(1);
  step(`${path.relative(root, file)}  ${mib} MiB  sha256 ${sha256(file)}`);
}
