// Runs the overriding resolver with a dns-core server whose "cluster" answers *.cluster.local with
// 198.18.0.77. Prints READY <json> once installed; on stdin EOF (or "quit") removes everything and exits.
import { openDnsServer } from '@telepresence/dns-core';
import { openResolverHook } from '../../dist/dns/os-resolver.js';
import { run } from '../../dist/util/exec.js';

const [resolvConfPath, upstream = ''] = process.argv.slice(2);
const hook = await openResolverHook(
  { platform: 'linux', upstream, resolvConfPath, beforeChange: async () => {} },
  { run },
);
const cluster = {
  async resolve(q) {
    if (q.type !== 'A') return { rcode: 0, answers: [] };
    return { rcode: 0, answers: [{ type: 'A', name: q.name, ttl: 4, data: '198.18.0.77' }] };
  },
};
const server = await openDnsServer({
  address: hook.listenAddress,
  config: { clusterDomain: 'cluster.local', connectedNamespace: 'default', dropSuffixes: hook.searchDomains },
  cluster,
  fallback: hook.fallback,
  // Redirected queries keep their original (interface) source address; a loopback bind is only reachable
  // from this host anyway.
  allowSource: () => true,
});
await hook.install(server.address.port);
console.log(
  `READY ${JSON.stringify({ port: server.address.port, upstream: hook.upstream, udpPorts: hook.fallback.udpPorts })}`,
);
let done = false;
async function quit() {
  if (done) return;
  done = true;
  await hook.remove();
  await server.close();
  console.log('DONE');
  process.exit(0);
}
process.stdin.on('data', (d) => d.toString().includes('quit') && quit());
process.stdin.on('end', quit);
