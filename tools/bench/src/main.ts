// `npm run bench [-- NAME...]`: runs every benchmark suite (or the named ones) in one process, one after
// another, so each table compares its rows side by side under the same machine load.
import type { BenchSuite } from './report.js';

const suites: Array<() => Promise<BenchSuite>> = [
  // One line per suite; each module default-exports a BenchSuite.
  () => import('./subnets.js').then((m) => m.default),
  () => import('./tunnel.js').then((m) => m.default),
  () => import('./dns.js').then((m) => m.default),
  () => import('./manager.js').then((m) => m.default),
  () => import('./auth.js').then((m) => m.default),
  () => import('./devcluster.js').then((m) => m.default),
  () => import('./netstack.js').then((m) => m.default),
  () => import('./client.js').then((m) => m.default),
  () => import('./idle-memory.js').then((m) => m.default),
  () => import('./intercept.js').then((m) => m.default),
  () => import('./startup.js').then((m) => m.default),
];

const wanted = new Set(process.argv.slice(2));
for (const load of suites) {
  const suite = await load();
  if (wanted.size > 0 && !wanted.has(suite.name)) continue;
  console.log(`\n# ${suite.name}`);
  await suite.run();
}
