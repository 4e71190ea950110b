// The cluster's long-running process, started by `devcluster up` inside the router network namespace
// (nsenter --net, so it shares the host's mount namespace): API server, controllers, kubelets,
// kube-proxy and DNS. SIGTERM stops every pod and removes the run's namespaces.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import { WebhookCaller } from './api/admission.js';
import { Authenticator, StaticTokens } from './api/authn.js';
import { bootstrapRbac } from './api/bootstrap-rbac.js';
import { createCa, issueClientCert, issueServerCert } from './api/certs.js';
import { checkEscalation } from './api/escalation.js';
import { Authorizer } from './api/rbac.js';
import { Reviews } from './api/reviews.js';
import { TokenSigner } from './api/sa-tokens.js';
import { ApiCore } from './api/core.js';
import { field, str, type KubeObject } from './api/object.js';
import { resourceTypes } from './api/resources.js';
import { createApiServer } from './api/server.js';
import { ServiceIpAllocator } from './api/service-ips.js';
import { Store } from './api/store.js';
import { startEndpointsController } from './controllers/endpoints.js';
import { startRbacAggregationController } from './controllers/rbac-aggregation.js';
import { startTokenSecretsController } from './controllers/token-secrets.js';
import type { Reconciler } from './controllers/reconciler.js';
import { startWorkloadControllers } from './controllers/workloads.js';
import { ClusterDns } from './dns/cluster-dns.js';
import { forwardUdp, serveDns, type DnsListener } from './dns/serve.js';
import { upstreamHandler } from './dns/upstream-dns.js';
import { createWorkstationForwarder } from './dns/workstation-forwarder.js';
import { loadImageMap } from './kubelet/images.js';
import { Kubelet } from './kubelet/kubelet.js';
import { renderKubeconfig } from './kubeconfig.js';
import { serveControl } from './control.js';
import { NodeManager } from './nodes.js';
import { startKubeProxy } from './net/kube-proxy.js';
import {
  apiServerIp,
  clusterDnsListenIp,
  clusterDomain,
  createNodeBridge,
  createWorkstation,
  deleteNodeBridge,
  kubeDnsServiceIp,
  kubernetesServiceIp,
  Names,
  removeRun,
  serviceCidr,
  upstreamDnsIp,
} from './net/topology.js';
import { files, type ClusterConfig, type ReadyInfo } from './state.js';

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
const type = (plural: string) => resourceTypes.find((t) => t.plural === plural)!;

async function main(): Promise<void> {
  // The port-forward relay allocates a Buffer per read on top of a ~40 MB heap: with V8's own growing
  // factor that is a full collection every ~100 ms under bulk (see libs/tunnel/src/heap-tuning.ts).
  v8.setFlagsFromString('--heap-growing-percent=100');
  const configPath = process.argv[2];
  if (!configPath) throw new Error('usage: supervisor <config.json>');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8')) as ClusterConfig;
  const names = new Names(cfg.name);
  const stateDir = cfg.stateDir;
  writeFileSync(path.join(stateDir, files.pid), String(process.pid));

  let closing = false;
  const cleanups: (() => Promise<void> | void)[] = [];
  const shutdown = async (code: number) => {
    if (closing) return;
    closing = true;
    log('shutting down');
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`shutdown: ${(err as Error).message}`);
      }
    }
    await removeRun(cfg.name);
    process.exit(code);
  };
  // One failing request or controller pass must not take the cluster down: log and carry on.
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) =>
    log(`unhandled rejection: ${(err as Error).stack ?? String(err)}`),
  );
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  // Network: node bridges and the workstation link (the router namespace itself was made by `up`).
  const ca = await createCa(`devcluster-${cfg.name}-ca`);
  const serving = issueServerCert(
    ca,
    'kube-apiserver',
    [
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      `kubernetes.default.svc.${clusterDomain}`,
      'localhost',
    ],
    [apiServerIp, kubernetesServiceIp, '127.0.0.1'],
  );
  const adminCert = issueClientCert(ca, 'kubernetes-admin', ['system:masters']);
  const store = new Store();
  const signer = new TokenSigner();
  const authn = new Authenticator({
    store,
    signer,
    staticTokens: new StaticTokens(path.join(stateDir, files.tokens)),
    log,
  });
  const authz = new Authorizer(store);
  const images = () => loadImageMap(cfg.imageFiles);
  images(); // fail early on a bad mapping file
  let podIds = 0;
  const core = new ApiCore({
    store,
    serviceIps: new ServiceIpAllocator(serviceCidr),
    webhooks: new WebhookCaller(store, log),
    schedule: (pod) => schedule(store, pod),
    hasKubelet: (node) => nodes.hasKubelet(node),
    admit: (t, user, obj) => checkEscalation(authz, store, t, user, obj),
  });
  core.caPem = ca.cert;
  let ready: ReadyInfo | undefined;
  const nodes = new NodeManager({
    store,
    network: {
      createBridge: (n) => createNodeBridge(names, n),
      deleteBridge: (n) => deleteNodeBridge(names, n),
    },
    makeKubelet: (node) =>
      new Kubelet({
        nodeName: node.name,
        nodeIndex: node.index,
        store,
        names,
        stateDir,
        images,
        signer,
        caPem: ca.cert,
        nextPodId: () => ++podIds,
        log,
        ...(cfg.tokenRefreshFraction !== undefined ? { tokenRefreshFraction: cfg.tokenRefreshFraction } : {}),
      }),
    deletePod: (ns, name, graceSeconds) =>
      core.delete(type('pods'), ns, name, { gracePeriodSeconds: graceSeconds }),
    log,
    // `status` (ready.json) shows the current node count.
    onChange: (list) => {
      if (!ready) return;
      ready = { ...ready, nodes: list.length };
      writeReady(stateDir, ready);
    },
  });
  // The first nodes' kubelets start once the controllers run (below).
  const initialNodes = Promise.all(Array.from({ length: cfg.nodes }, () => nodes.add({ start: false })));
  await Promise.all([initialNodes, createWorkstation(names, `nameserver ${upstreamDnsIp}\n`)]);
  log(`network ready (${Date.now() - t0} ms)`);

  await bootstrap(core);

  const reconcilers: Reconciler[] = [
    ...startWorkloadControllers(core, log),
    startEndpointsController(store, log),
    startTokenSecretsController(store, signer, ca.cert, log),
    startRbacAggregationController(store, authz, log),
    startKubeProxy(store, names, log),
  ];
  for (const r of reconcilers) r.trigger(); // the bootstrap objects predate their subscriptions
  cleanups.push(() => reconcilers.forEach((r) => r.stop()));
  nodes.startAll();
  cleanups.push(() => nodes.close());

  // DNS: the cluster resolver behind the kube-dns ClusterIP, and the upstream on the workstation link.
  const upstream = upstreamHandler({ zone: cfg.upstreamZone, records: {}, defaultAddress: upstreamDnsIp });
  const forward = cfg.recursiveDns
    ? await createWorkstationForwarder(names, stateDir, log)
    : (q: Buffer) => forwardUdp(q, upstreamDnsIp);
  const dns = new ClusterDns(store, clusterDomain, forward);
  const listeners: DnsListener[] = await Promise.all([
    serveDns(clusterDnsListenIp, 53, (q) => dns.handle(q), log),
    serveDns(upstreamDnsIp, 53, upstream, log),
  ]);
  cleanups.push(() => Promise.all(listeners.map((l) => l.close())).then(() => undefined));

  // API server: on the workstation link (and so on the kubernetes ClusterIP), and on the host loopback.
  const tls = await serving;
  const serverOptions = {
    core,
    authn,
    authz,
    signer,
    reviews: new Reviews({ store, authn, authz, signer }),
    clientCa: ca.cert,
    tls,
    dialPod: (pod: KubeObject, port: number) =>
      net.connect({ host: str(field(pod, 'status', 'podIP')) ?? '', port, noDelay: true }),
    podLogFile: (ns: string, name: string, container: string | undefined, previous?: boolean) =>
      nodes.logFile(ns, name, container, previous),
    advertiseAddress: `${apiServerIp}:443`,
    clusterName: cfg.name,
    log,
  };
  const servers: https.Server[] = [];
  const listen = (server: https.Server, target: { port: number; host: string } | { fd: number }) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target, () => resolve());
    });
  const wsServer = createApiServer(serverOptions);
  await listen(wsServer, { port: 443, host: apiServerIp });
  servers.push(wsServer);
  if (cfg.hostListenFd !== undefined) {
    const hostServer = createApiServer(serverOptions);
    await listen(hostServer, { fd: cfg.hostListenFd });
    servers.push(hostServer);
  }
  cleanups.push(() => servers.forEach((s) => s.close()));

  const apiUrl = `https://${apiServerIp}:443`;
  const hostApiUrl = `https://127.0.0.1:${cfg.hostPort ?? 0}`;
  const kubeconfig = path.join(stateDir, files.kubeconfig);
  const hostKubeconfig = path.join(stateDir, files.hostKubeconfig);
  const admin = await adminCert;
  await writeFile(kubeconfig, renderKubeconfig(`devcluster-${cfg.name}`, apiUrl, ca.cert, admin), {
    mode: 0o600,
  });
  await writeFile(hostKubeconfig, renderKubeconfig(`devcluster-${cfg.name}`, hostApiUrl, ca.cert, admin), {
    mode: 0o600,
  });
  await writeFile(path.join(stateDir, files.caCert), ca.cert);
  await writeFile(path.join(stateDir, files.caKey), ca.key, { mode: 0o600 });
  const control = await serveControl(path.join(stateDir, files.control), nodes, log);
  cleanups.push(() => void control.close());
  ready = {
    name: cfg.name,
    pid: process.pid,
    nodes: nodes.list().length,
    apiUrl,
    hostApiUrl,
    kubeconfig,
    hostKubeconfig,
    workstationNetns: names.workstation,
    routerNetns: names.router,
    startedAt: new Date(t0).toISOString(),
    readyAfterMs: Date.now() - t0,
  };
  startWatchdog(cfg.name, stateDir, cleanups);
  writeReady(stateDir, ready);
  log(`ready after ${ready.readyAfterMs} ms: ${apiUrl} (host ${hostApiUrl})`);
}

/** The watchdog (see watchdog.ts), ended first on a clean shutdown. */
function startWatchdog(name: string, stateDir: string, cleanups: (() => Promise<void> | void)[]): void {
  const out = openSync(path.join(stateDir, files.log), 'a');
  const child = spawn(
    process.execPath,
    [path.join(import.meta.dirname, 'watchdog.js'), name, String(process.pid)],
    {
      detached: true,
      stdio: ['ignore', out, out],
    },
  );
  closeSync(out);
  child.unref();
  if (child.pid === undefined) return;
  const pid = child.pid;
  writeFileSync(path.join(stateDir, files.watchdogPid), String(pid));
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  });
}

function schedule(store: Store, pod: KubeObject): string | undefined {
  const selector = field(pod, 'spec', 'nodeSelector');
  const nodes = store.list('nodes').filter((n) => {
    if (typeof selector !== 'object' || selector === null) return true;
    return Object.entries(selector as Record<string, unknown>).every(
      ([k, v]) => n.metadata.labels?.[k] === v,
    );
  });
  const load = (name: string) =>
    store.list('pods').filter((p) => field(p, 'spec', 'nodeName') === name && !p.metadata.deletionTimestamp)
      .length;
  let best: string | undefined;
  let bestLoad = Infinity;
  for (const n of nodes) {
    const l = load(n.metadata.name ?? '');
    if (l < bestLoad) {
      best = n.metadata.name;
      bestLoad = l;
    }
  }
  return best;
}

/** ready.json, replaced atomically (the CLI may read it at any time). */
function writeReady(stateDir: string, ready: ReadyInfo): void {
  const file = path.join(stateDir, files.ready);
  writeFileSync(`${file}.tmp`, JSON.stringify(ready, null, 2));
  renameSync(`${file}.tmp`, file);
}

async function bootstrap(core: ApiCore): Promise<void> {
  const { clusterRoles, clusterRoleBindings } = bootstrapRbac();
  for (const r of clusterRoles) core.store.create('rbac.authorization.k8s.io/clusterroles', r);
  for (const b of clusterRoleBindings) core.store.create('rbac.authorization.k8s.io/clusterrolebindings', b);
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    await core.create(type('namespaces'), undefined, { metadata: { name: ns } });
  }
  // The default ServiceCIDR a 1.33+ apiserver creates from --service-cluster-ip-range.
  core.store.create('networking.k8s.io/servicecidrs', {
    metadata: { name: 'kubernetes' },
    spec: { cidrs: [serviceCidr] },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: '',
          message: 'Kubernetes Service CIDR is ready',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    },
  });
  await core.create(type('services'), 'default', {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      clusterIP: kubernetesServiceIp,
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 443 }],
    },
  });
  core.store.create('endpoints', {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip: apiServerIp }], ports: [{ name: 'https', port: 443, protocol: 'TCP' }] }],
  });
  await core.create(type('services'), 'kube-system', {
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: {
        'k8s-app': 'kube-dns',
        'kubernetes.io/name': 'CoreDNS',
        'kubernetes.io/cluster-service': 'true',
      },
    },
    spec: {
      clusterIP: kubeDnsServiceIp,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  });
  core.store.create('endpoints', {
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    subsets: [
      {
        addresses: [{ ip: clusterDnsListenIp }],
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    ],
  });
}

main().catch(async (err: unknown) => {
  log(`fatal: ${(err as Error).stack ?? String(err)}`);
  const cfgPath = process.argv[2];
  if (cfgPath) {
    try {
      const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as ClusterConfig;
      writeFileSync(path.join(cfg.stateDir, files.failed), (err as Error).message);
      await removeRun(cfg.name);
    } catch {
      /* best effort */
    }
  }
  process.exit(1);
});
