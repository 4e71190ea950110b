// An eslint rule for the workspace layout (eslint.config.js): a package reaches another only by its name
// and the entries of its package.json "exports", never by a relative path across package roots or a
// deep path into its files; apps and libs import nothing from tools/ or e2e/ (development and test
// tooling), and libs nothing from apps/ (dependencies point one way: apps on libs, tools on both).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Workspace packages by name: their directory and the subpaths their "exports" allow ('.', './testing'). */
function readWorkspaces() {
  const byName = new Map();
  const patterns = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces ?? [];
  for (const pattern of patterns) {
    const dirs = pattern.endsWith('/*')
      ? fs
          .readdirSync(path.join(root, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => path.join(root, pattern.slice(0, -2), d.name))
      : [path.join(root, pattern)];
    for (const dir of dirs) {
      const file = path.join(dir, 'package.json');
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
      const exports = pkg.exports;
      const entries =
        exports === undefined || typeof exports === 'string'
          ? ['.']
          : Object.keys(exports).some((k) => k.startsWith('.'))
            ? Object.keys(exports)
            : ['.'];
      byName.set(pkg.name, { dir, entries: new Set(entries) });
    }
  }
  return byName;
}

let workspaces;
const rootOfDir = new Map();

/** The directory of the nearest package.json at or above `dir` (the repo root at the latest). */
function packageRoot(dir) {
  const known = rootOfDir.get(dir);
  if (known !== undefined) return known;
  const found =
    fs.existsSync(path.join(dir, 'package.json')) || dir === root || path.dirname(dir) === dir
      ? dir
      : packageRoot(path.dirname(dir));
  rootOfDir.set(dir, found);
  return found;
}

/** 'apps', 'libs', 'tools', 'e2e', or '' (the repo root, or outside it). */
function area(dir) {
  const rel = path.relative(root, dir);
  return rel === '' || rel.startsWith('..') ? '' : rel.split(path.sep)[0];
}

function nameOf(dir) {
  for (const [name, ws] of workspaces) if (ws.dir === dir) return name;
  return path.relative(root, dir) || 'the repo root';
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'imports respect package roots, package exports and the apps/libs/tools layering' },
    schema: [],
  },
  create(context) {
    workspaces ??= readWorkspaces();
    const file = context.filename;
    const from = packageRoot(path.dirname(file));
    const fromArea = area(from);

    function check(node, spec) {
      if (typeof spec !== 'string') return;
      let target;
      if (spec.startsWith('.')) {
        target = packageRoot(path.dirname(path.resolve(path.dirname(file), spec)));
        if (target !== from) {
          context.report({
            node,
            message: `'${spec}' reaches into another package (${nameOf(target)}): import it by its name and from what it exports`,
          });
        }
      } else {
        const m = /^(@telepresence\/[^/]+)(\/.*)?$/.exec(spec);
        const ws = m === null ? undefined : workspaces.get(m[1]);
        if (ws === undefined) return;
        if (m[2] !== undefined && !ws.entries.has(`.${m[2]}`)) {
          context.report({
            node,
            message: `'${spec}' is a deep import into ${m[1]}: import from '${m[1]}' or an entry of its package.json "exports"`,
          });
        }
        target = ws.dir;
      }
      const toArea = area(target);
      if ((fromArea === 'apps' || fromArea === 'libs') && (toArea === 'tools' || toArea === 'e2e')) {
        context.report({
          node,
          message: `${fromArea}/ must not import from ${toArea}/ ('${spec}'): ${toArea}/ is development and test tooling, which depends on ${fromArea}/, not the other way`,
        });
      } else if (fromArea === 'libs' && toArea === 'apps') {
        context.report({
          node,
          message: `libs/ must not import from apps/ ('${spec}'): apps depend on libs; move what both need into a lib`,
        });
      }
    }

    const source = (node) => {
      if (node.source?.type === 'Literal') check(node.source, node.source.value);
    };
    return {
      ImportDeclaration: source,
      ExportNamedDeclaration: source,
      ExportAllDeclaration: source,
      ImportExpression: source,
    };
  },
};
