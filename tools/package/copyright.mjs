// debian/copyright (machine-readable format 1.0) for what the package carries: this project's code
// (Apache-2.0, the root LICENSE, as the original Telepresence), the Node.js runtime the binary is built
// from, and every npm package the bundle includes (from esbuild's metafile), each with its licence text.
import fs from 'node:fs';
import path from 'node:path';

const LICENSE_NAMES = /^(licen[sc]e|copying)(\.md|\.txt)?$/i;

/** The npm packages (name@version, licence, text) whose files esbuild put into the bundle. */
export function bundledPackages(root, metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m !== null) dirs.add(path.resolve(root, m[1]));
  }
  return [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const file = fs.readdirSync(dir).find((f) => LICENSE_NAMES.test(f));
    const licence = typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'UNKNOWN');
    const text = file === undefined ? '' : fs.readFileSync(path.join(dir, file), 'utf8');
    return { name: pkg.name, version: pkg.version, licence, text };
  });
}

const indent = (text) =>
  text
    .trim()
    .split('\n')
    .map((line) => (line.trim() === '' ? ' .' : ` ${line}`))
    .join('\n');

export function copyrightFile(root, metafile) {
  const project = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const projectLicence = project.license;
  if (typeof projectLicence !== 'string' || projectLicence === '' || projectLicence === 'UNLICENSED')
    throw new Error('package.json has no licence: set "license" (the project is Apache-2.0, see LICENSE)');
  const paragraphs = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: telepresence (TypeScript re-implementation)',
    ].join('\n'),
    [
      'Files: *',
      'Copyright: the authors of this TypeScript re-implementation of Telepresence',
      `License: ${projectLicence}`,
    ].join('\n'),
  ];
  const nodeLicence = [
    '/usr/share/doc/nodejs/LICENSE',
    path.join(path.dirname(process.execPath), '../LICENSE'),
  ]
    .map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : ''))
    .find((t) => t !== '');
  paragraphs.push(
    [
      `Files: usr/bin/telepresence (the Node.js ${process.version} runtime)`,
      'License: MIT and others (Node.js and the libraries it includes)',
      indent(nodeLicence ?? 'See https://github.com/nodejs/node/blob/main/LICENSE'),
    ].join('\n'),
  );
  paragraphs.push(
    [
      `License: ${projectLicence}`,
      indent(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8')),
      ' .',
      ` On Debian systems, the full text is also in /usr/share/common-licenses/${projectLicence}.`,
    ].join('\n'),
  );
  for (const p of bundledPackages(root, metafile)) {
    paragraphs.push(
      [
        `Files: usr/bin/telepresence (bundled npm package ${p.name}@${p.version})`,
        `License: ${p.licence}`,
        ...(p.text === '' ? [] : [indent(p.text)]),
      ].join('\n'),
    );
  }
  return `${paragraphs.join('\n\n')}\n`;
}
