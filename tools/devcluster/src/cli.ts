#!/usr/bin/env node
// devcluster: a simulated Kubernetes cluster on network namespaces. See README.md.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { applyManifests } from './apply.js';
import {
  addNode,
  attachDevCluster,
  clusterStatus,
  DevClusterError,
  execArgv,
  listNodes,
  removeNode,
  requireRoot,
  startDevCluster,
  stopDevCluster,
  type ExecTarget,
} from './cluster.js';

const usage = `usage:
  devcluster up [--name N] [--nodes 2] [--recursive-dns] [--images FILE]... [--upstream-zone example.test]
  devcluster down [--name N]
  devcluster status [--name N]
  devcluster kubeconfig [--name N] [--host]     path of the admin kubeconfig (workstation namespace; --host: host loopback)
  devcluster kubeconfig [--name N] [--host] --user NAME [--group G]... [--token]
                                                writes a kubeconfig for an ordinary user (client certificate
                                                CN=NAME, O=G; --token: a bearer token) and prints its path
  devcluster apply [--name N] -f FILE|-
  devcluster exec [--name N] <ws|pod/NS/NAME> -- CMD...
  devcluster node add [--name N] [NODE]         add a node while running (default name node-<index>)
  devcluster node remove [--name N] NODE        stop its pods, remove its kubelet and bridge
  devcluster node list [--name N]`;

interface Parsed {
  flags: Map<string, string[]>;
  positional: string[];
  rest: string[];
}

function parse(args: string[], booleans: readonly string[]): Parsed {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--') {
      rest = args.slice(i + 1);
      break;
    }
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m && a !== '-') {
      const key = m[1] ?? '';
      let value = m[2];
      if (value === undefined) value = booleans.includes(key) ? 'true' : args[++i];
      if (value === undefined) throw new DevClusterError(`flag --${key} needs a value\n${usage}`);
      flags.set(key, [...(flags.get(key) ?? []), value]);
    } else positional.push(a);
  }
  return { flags, positional, rest };
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  const p = parse(args, ['recursive-dns', 'host', 'help', 'json', 'token']);
  const name = p.flags.get('name')?.[0] ?? process.env['DEVCLUSTER_NAME'] ?? 'dc';
  switch (cmd) {
    case 'up': {
      const started = Date.now();
      const c = await startDevCluster({
        name,
        nodes: Number(p.flags.get('nodes')?.[0] ?? 2),
        recursiveDns: p.flags.has('recursive-dns'),
        images: p.flags.get('images') ?? [],
        ...(p.flags.get('upstream-zone') ? { upstreamZone: p.flags.get('upstream-zone')?.[0] ?? '' } : {}),
      });
      console.log(
        `devcluster "${c.name}" is up (${Date.now() - started} ms, ${c.nodes} nodes, supervisor pid ${c.pid})`,
      );
      console.log(
        `  API server:  ${c.apiUrl} (workstation namespace ${c.workstationNetns}), ${c.hostApiUrl} (host)`,
      );
      console.log(`  kubeconfig:  ${c.kubeconfig} (in the workstation), ${c.hostKubeconfig} (on the host)`);
      console.log(
        `  try:         devcluster exec --name ${c.name} ws -- kubectl --kubeconfig ${c.kubeconfig} get nodes -o wide`,
      );
      return 0;
    }
    case 'down':
      await stopDevCluster(name);
      console.log(`devcluster "${name}" is down`);
      return 0;
    case 'status': {
      const s = clusterStatus(name);
      if (!s) {
        console.log(`devcluster "${name}" is not running`);
        return 1;
      }
      console.log(JSON.stringify(s, null, 2));
      if (!s.running)
        console.error(
          `devcluster "${name}": its supervisor (pid ${s.pid}) is not running (killed?), but what it started may be: pods, network namespaces, nft tables. Remove them with "devcluster down --name ${name}" (or start again with "devcluster up --name ${name}").`,
        );
      return s.running ? 0 : 1;
    }
    case 'kubeconfig': {
      const c = attachDevCluster(name);
      const user = p.flags.get('user')?.[0];
      if (user === undefined) {
        if (p.flags.has('group') || p.flags.has('token'))
          throw new DevClusterError(`kubeconfig: --group and --token need --user NAME\n${usage}`);
        console.log(p.flags.has('host') ? c.hostKubeconfig : c.kubeconfig);
        return 0;
      }
      requireRoot();
      const out = await c
        .userKubeconfig({ user, groups: p.flags.get('group') ?? [], token: p.flags.has('token') })
        .catch((err: unknown) => {
          throw new DevClusterError(`kubeconfig: ${(err as Error).message}`);
        });
      console.log(p.flags.has('host') ? out.hostKubeconfig : out.kubeconfig);
      return 0;
    }
    case 'apply': {
      const file = p.flags.get('f')?.[0] ?? p.flags.get('filename')?.[0];
      if (!file) throw new DevClusterError(`apply needs -f FILE (or -f - for stdin)\n${usage}`);
      const c = attachDevCluster(name);
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      await applyManifests(c.hostKubeconfig, text, (l) => console.log(l));
      return 0;
    }
    case 'exec': {
      requireRoot();
      const target = p.positional[0];
      if (!target || p.rest.length === 0)
        throw new DevClusterError(`exec needs a target and a command\n${usage}`);
      attachDevCluster(name);
      const { argv: full, env } = execArgv(name, target as ExecTarget, p.rest);
      const child = spawn(full[0] ?? 'ip', full.slice(1), { stdio: 'inherit', env });
      return await new Promise<number>((resolve) =>
        child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))),
      );
    }
    case 'node':
      return await nodeCommand(name, p.positional, p.flags.has('json'));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return cmd === undefined ? 2 : 0;
    default:
      throw new DevClusterError(`unknown command "${cmd}"\n${usage}`);
  }
}

async function nodeCommand(name: string, positional: string[], json: boolean): Promise<number> {
  const [sub, node, ...extra] = positional;
  if (extra.length > 0)
    throw new DevClusterError(`node ${sub ?? ''}: unexpected "${extra.join(' ')}"\n${usage}`);
  const show = (n: { name: string; podCIDR: string; address: string }) =>
    `${n.name}\t${n.podCIDR}\t${n.address}`;
  switch (sub) {
    case 'add': {
      const n = await addNode(name, node === undefined ? {} : { name: node });
      console.log(
        json
          ? JSON.stringify(n)
          : `node ${n.name} added to devcluster "${name}": podCIDR ${n.podCIDR}, address ${n.address}`,
      );
      return 0;
    }
    case 'remove':
    case 'rm':
    case 'delete': {
      if (node === undefined) throw new DevClusterError(`node remove needs the node's name\n${usage}`);
      const n = await removeNode(name, node);
      console.log(
        json ? JSON.stringify(n) : `node ${n.name} removed from devcluster "${name}" (${n.podCIDR})`,
      );
      return 0;
    }
    case 'list':
    case 'ls': {
      const list = await listNodes(name);
      console.log(json ? JSON.stringify(list) : ['NAME\tPODCIDR\tADDRESS', ...list.map(show)].join('\n'));
      return 0;
    }
    default:
      throw new DevClusterError(`node needs add, remove or list\n${usage}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(
      `devcluster: ${err instanceof DevClusterError ? err.message : ((err as Error).stack ?? String(err))}`,
    );
    process.exit(1);
  },
);
