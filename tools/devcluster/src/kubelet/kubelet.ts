// The kubelet of one node: for each pod bound to the node it makes a network namespace (via the
// topology module), runs init containers to completion and then each container as a process in the
// pod's namespace (own mount and UTS namespaces with the service-account files and the pod's hostname),
// restarts containers per restartPolicy, runs readiness probes and reports pod status.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { recordEvent } from '../api/events.js';
import type { TokenSigner } from '../api/sa-tokens.js';
import { clone, field, isRecord, str, type KubeObject } from '../api/object.js';
import type { Store, StoreEvent } from '../api/store.js';
import {
  clusterDomain,
  createPodNetwork,
  deletePodNetwork,
  kubeDnsServiceIp,
  nodeGateway,
  type Names,
} from '../net/topology.js';
import { containerEnv, expandVars } from './env.js';
import { resolveProgram, type ImageMap } from './images.js';
import { ContainerLog } from './container-log.js';
import { writeProjectedMounts } from './projected.js';
import { runProbe } from './probes.js';
import { PodIps } from './pod-ips.js';
import {
  defaultRefreshFraction,
  replaceFile,
  TokenRotation,
  writeInContainer,
  type RotatedToken,
} from './token-rotation.js';

type Rec = Record<string, unknown>;

export interface KubeletOptions {
  readonly nodeName: string;
  readonly nodeIndex: number;
  readonly store: Store;
  readonly names: Names;
  readonly stateDir: string;
  readonly images: () => ImageMap;
  /** Signs the pods' projected service-account tokens (what the kubelet gets from TokenRequest). */
  readonly signer: TokenSigner;
  readonly caPem: string;
  /** Allocates unique pod namespace ids across all kubelets of the cluster. */
  readonly nextPodId: () => number;
  readonly log: (msg: string) => void;
  /** Share of a projected token's lifetime after which it is replaced (a real kubelet's: 0.8). */
  readonly tokenRefreshFraction?: number;
}

interface ContainerState {
  readonly name: string;
  readonly spec: Rec;
  proc?: ChildProcess | undefined;
  restartCount: number;
  ready: boolean;
  everReady: boolean;
  startedAt?: string;
  state: Rec;
  lastState: Rec;
  probeTimer?: NodeJS.Timeout | undefined;
  livenessTimer?: NodeJS.Timeout | undefined;
  restartTimer?: NodeJS.Timeout | undefined;
  init: boolean;
  /** Why the container cannot be set up (CreateContainerConfigError), e.g. a mount devcluster cannot provide. */
  configError?: string | undefined;
  /** Its service-account tokens, refreshed while it runs. */
  tokens: RotatedToken[];
  rotation?: TokenRotation | undefined;
}

interface PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  pod: KubeObject;
  id?: number;
  /** The network namespace its containers run in: its own, or the node's (router) with hostNetwork. */
  netns?: string;
  hostNetwork?: boolean;
  ip?: string;
  dir: string;
  containers: ContainerState[];
  initDone: boolean;
  stopping: boolean;
  startTime: string;
  failed?: { reason: string; message: string };
}

/** The setup each container's process runs first, inside `ip netns exec <pod> unshare -u`. */
export const containerSetup = [
  'set -e',
  'hostname "$DEVCLUSTER_HOSTNAME"',
  // The sources live under the host's /run, which the private tmpfs hides: read them first.
  'm=""',
  'if [ -n "$DEVCLUSTER_MOUNTS_DIR" ]; then m="$(tar -C "$DEVCLUSTER_MOUNTS_DIR" -cf - . | base64 -w0)"; fi',
  'if [ -n "$DEVCLUSTER_SA_DIR" ]; then',
  '  t="$(cat "$DEVCLUSTER_SA_DIR/token")"; c="$(cat "$DEVCLUSTER_SA_DIR/ca.crt")"; n="$(cat "$DEVCLUSTER_SA_DIR/namespace")"',
  'fi',
  'if [ -n "$DEVCLUSTER_SA_DIR" ] || [ -n "$m" ]; then mount -t tmpfs -o mode=755 devcluster-run /run; fi',
  'if [ -n "$DEVCLUSTER_SA_DIR" ]; then',
  '  d=/run/secrets/kubernetes.io/serviceaccount',
  '  mkdir -p "$d"',
  `  printf '%s' "$t" > "$d/token"; printf '%s\\n' "$c" > "$d/ca.crt"; printf '%s' "$n" > "$d/namespace"`,
  'fi',
  `if [ -n "$m" ]; then printf '%s' "$m" | base64 -d | tar -C / -xf -; fi`,
  'unset DEVCLUSTER_SA_DIR DEVCLUSTER_HOSTNAME DEVCLUSTER_MOUNTS_DIR',
  'exec "$@"',
].join('\n');

/** What a probe checks, for its failure events. */
function probeTarget(probe: Record<string, unknown>): string {
  const http = probe['httpGet'];
  if (isRecord(http))
    return `HTTP probe to port ${String(http['port'])}${String(http['path'] ?? '/')} failed`;
  const tcp = probe['tcpSocket'];
  if (isRecord(tcp)) return `dial tcp port ${String(tcp['port'])}: connection refused`;
  return 'command failed';
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class Kubelet {
  private readonly pods = new Map<string, PodRuntime>();
  private readonly podIps = new PodIps();
  private unsubscribe?: () => void;
  private closed = false;

  constructor(private readonly o: KubeletOptions) {}

  get nodeName(): string {
    return this.o.nodeName;
  }

  start(): void {
    this.unsubscribe = this.o.store.subscribe((e) => this.onEvent(e));
    for (const p of this.o.store.list('pods')) this.onEvent({ type: 'ADDED', key: 'pods', rv: 0, object: p });
  }

  /** Where a container's output goes (for pods/log); `previous`: that of its last terminated run. */
  logFile(
    namespace: string,
    name: string,
    container: string | undefined,
    previous = false,
  ): string | undefined {
    for (const rt of this.pods.values()) {
      if (rt.namespace === namespace && rt.name === name) {
        const c = container ?? rt.containers.find((x) => !x.init)?.name;
        return c ? path.join(rt.dir, previous ? `${c}.previous.log` : `${c}.log`) : undefined;
      }
    }
    return undefined;
  }

  /** The pod's network namespace name, for exec. */
  podNetns(namespace: string, name: string): string | undefined {
    for (const rt of this.pods.values()) {
      if (rt.namespace === namespace && rt.name === name && rt.netns !== undefined) return rt.netns;
    }
    return undefined;
  }

  private onEvent(e: StoreEvent): void {
    if (e.key !== 'pods' || this.closed) return;
    const pod = e.object;
    if (str(field(pod, 'spec', 'nodeName')) !== this.o.nodeName) return;
    const uid = pod.metadata.uid ?? '';
    const rt = this.pods.get(uid);
    if (e.type === 'DELETED') {
      if (rt) void this.stopPod(rt, 0, false);
      return;
    }
    if (rt) {
      rt.pod = pod;
      if (pod.metadata.deletionTimestamp && !rt.stopping) {
        void this.stopPod(rt, Number(pod.metadata.deletionGracePeriodSeconds ?? 30), true);
      }
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      // Unknown to us (e.g. never started): nothing to stop.
      this.finalize(pod);
      return;
    }
    const phase = str(field(pod, 'status', 'phase'));
    if (phase === 'Succeeded' || phase === 'Failed') return;
    void this.startPod(pod).catch((err: unknown) =>
      this.o.log(
        `kubelet ${this.o.nodeName}: pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}: ${(err as Error).message}`,
      ),
    );
  }

  private allocateIp(): string {
    const host = this.podIps.allocate();
    if (host === undefined) throw new Error(`node ${this.o.nodeName} has no free pod address`);
    return `198.18.${this.o.nodeIndex}.${host}`;
  }

  private async startPod(pod: KubeObject): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const spec = (pod['spec'] ?? {}) as Rec;
    const list = (k: string) => (Array.isArray(spec[k]) ? (spec[k] as Rec[]) : []);
    const mk = (c: Rec, init: boolean): ContainerState => ({
      name: String(c['name']),
      spec: c,
      restartCount: 0,
      ready: false,
      everReady: false,
      state: { waiting: { reason: init ? 'PodInitializing' : 'ContainerCreating' } },
      lastState: {},
      init,
      tokens: [],
    });
    const rt: PodRuntime = {
      uid,
      namespace: ns,
      name,
      pod,
      dir: path.join(this.o.stateDir, 'pods', `${ns}_${name}_${uid.slice(0, 8)}`),
      containers: [
        ...list('initContainers').map((c) => mk(c, true)),
        ...list('containers').map((c) => mk(c, false)),
      ],
      initDone: list('initContainers').length === 0,
      stopping: false,
      startTime: now(),
    };
    this.pods.set(uid, rt);
    rt.hostNetwork = spec['hostNetwork'] === true;
    if (rt.hostNetwork) {
      // The node's network namespace and address, as a real kubelet runs hostNetwork pods.
      rt.ip = nodeGateway(this.o.nodeIndex);
      rt.netns = this.o.names.router;
    } else {
      rt.ip = this.allocateIp();
      rt.id = this.o.nextPodId();
      rt.netns = this.o.names.pod(rt.id);
    }
    this.report(rt);
    await mkdir(rt.dir, { recursive: true });
    const hostname = str(spec['hostname']) || name;
    const search = [`${ns}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
    if (rt.id !== undefined)
      await createPodNetwork(this.o.names, rt.id, this.o.nodeIndex, rt.ip, {
        resolvConf: `search ${search.join(' ')}\nnameserver ${kubeDnsServiceIp}\noptions ndots:5\n`,
        hosts:
          `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${rt.ip}\t${hostname}\n` +
          hostAliasLines(spec['hostAliases']),
      });
    await writeFile(path.join(rt.dir, 'netns'), rt.netns);
    if (spec['automountServiceAccountToken'] !== false) {
      const sa = str(spec['serviceAccountName']) ?? 'default';
      const saDir = path.join(rt.dir, 'sa');
      await mkdir(saDir, { recursive: true });
      await writeFile(path.join(saDir, 'token'), this.podToken(pod, sa));
      await writeFile(path.join(saDir, 'ca.crt'), this.o.caPem);
      await writeFile(path.join(saDir, 'namespace'), ns);
    }
    const sa = str(spec['serviceAccountName']) ?? 'default';
    const apiAccess =
      spec['automountServiceAccountToken'] !== false
        ? [this.apiAccessToken(pod, path.join(rt.dir, 'sa', 'token'))]
        : [];
    for (const c of rt.containers) {
      const mounts = await writeProjectedMounts(pod, c.spec, path.join(rt.dir, 'mounts', c.name), {
        store: this.o.store,
        token: (audience, expirationSeconds) => this.podToken(pod, sa, { audience, expirationSeconds }),
      });
      c.configError = mounts.error;
      c.tokens = [...apiAccess, ...mounts.tokens];
    }
    if (rt.stopping) return;
    this.advance(rt);
  }

  /** The kube-api-access token as the container sees it, for its refresh. */
  private apiAccessToken(pod: KubeObject, mirror: string): RotatedToken {
    const source = this.apiAccessSource(pod);
    return {
      file: '/run/secrets/kubernetes.io/serviceaccount/token',
      mirror,
      audience: str(field(source, 'audience')),
      expirationSeconds: Number(field(source, 'expirationSeconds') ?? 3607),
    };
  }

  /** The serviceAccountToken source of the pod's kube-api-access volume. */
  private apiAccessSource(pod: KubeObject): unknown {
    const volumes = field(pod, 'spec', 'volumes');
    return (Array.isArray(volumes) ? volumes : [])
      .filter((v) => String(field(v, 'name')).startsWith('kube-api-access-'))
      .flatMap((v) => {
        const sources = field(v, 'projected', 'sources');
        return Array.isArray(sources) ? sources : [];
      })
      .map((src) => field(src, 'serviceAccountToken'))
      .find((t) => t !== undefined);
  }

  /**
   * The projected token of the pod's kube-api-access volume: audience and expiry from its
   * serviceAccountToken source, bound to the pod (and node), so it stops working once the pod is gone.
   */
  private podToken(
    pod: KubeObject,
    saName: string,
    projected?: { audience: string | undefined; expirationSeconds: number },
  ): string {
    const ns = pod.metadata.namespace ?? 'default';
    const sa = this.o.store.get('serviceaccounts', ns, saName);
    const source = this.apiAccessSource(pod);
    const audience = projected ? projected.audience : str(field(source, 'audience'));
    const exp = projected ? projected.expirationSeconds : Number(field(source, 'expirationSeconds') ?? 3607);
    const node = this.o.store.get('nodes', undefined, this.o.nodeName);
    return this.o.signer.mintProjected({
      namespace: ns,
      serviceAccount: { name: saName, uid: sa?.metadata.uid ?? '' },
      ...(audience ? { audiences: [audience] } : {}),
      expirationSeconds: exp,
      bound: { kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
      node: { name: this.o.nodeName, uid: node?.metadata.uid ?? '' },
    }).token;
  }

  /** An event about the pod (or one of its containers), as the kubelet records it. */
  private event(
    rt: PodRuntime,
    c: ContainerState | undefined,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): void {
    const pod = this.o.store.get('pods', rt.namespace, rt.name) ?? rt.pod;
    recordEvent(
      this.o.store,
      { ...pod, apiVersion: 'v1', kind: 'Pod' },
      {
        type,
        reason,
        message,
        component: 'kubelet',
        host: this.o.nodeName,
        ...(c ? { fieldPath: `spec.${c.init ? 'initContainers' : 'containers'}{${c.name}}` } : {}),
      },
    );
  }

  /** Starts the next init container, or all app containers once init is done. */
  private advance(rt: PodRuntime): void {
    if (rt.stopping) return;
    if (!rt.initDone) {
      const next = rt.containers.find(
        (c) => c.init && !('terminated' in c.state && field(c.state, 'terminated', 'exitCode') === 0),
      );
      if (next) {
        if (!next.proc && !next.restartTimer) this.startContainer(rt, next);
        this.report(rt);
        return;
      }
      rt.initDone = true;
    }
    for (const c of rt.containers)
      if (!c.init && !c.proc && !c.restartTimer && !('terminated' in c.state)) this.startContainer(rt, c);
    this.report(rt);
  }

  private startContainer(rt: PodRuntime, c: ContainerState): void {
    const spec = c.spec;
    if (c.configError) {
      c.state = { waiting: { reason: 'CreateContainerConfigError', message: c.configError } };
      this.event(rt, c, 'Warning', 'Failed', `Error: ${c.configError}`);
      this.report(rt);
      return;
    }
    const pod = this.o.store.get('pods', rt.namespace, rt.name) ?? rt.pod;
    const strList = (v: unknown) => (Array.isArray(v) ? v.map(String) : undefined);
    const resolved = resolveProgram(
      this.o.images(),
      String(spec['image'] ?? ''),
      strList(spec['command']),
      strList(spec['args']),
    );
    if (typeof resolved === 'string') {
      // Like an image pull back-off: the mapping may gain the image (files are re-read on every try).
      c.state = {
        waiting: {
          reason: c.restartTimer === undefined ? 'ErrImagePull' : 'ImagePullBackOff',
          message: resolved,
        },
      };
      this.o.log(`kubelet ${this.o.nodeName}: ${rt.namespace}/${rt.name}/${c.name}: ${resolved}`);
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        if (!rt.stopping) this.advance(rt);
      }, 5000);
      this.report(rt);
      return;
    }
    const base: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      HOSTNAME: rt.hostNetwork ? this.o.nodeName : str(field(pod, 'spec', 'hostname')) || rt.name,
      ...resolved.env,
    };
    const env = containerEnv(this.o.store, pod, spec, base);
    const argv = resolved.argv.map((a) => expandVars(a, env));
    const saDir = path.join(rt.dir, 'sa');
    const mountsDir = path.join(rt.dir, 'mounts', c.name);
    const logPath = path.join(rt.dir, `${c.name}.log`);
    mkdirSync(rt.dir, { recursive: true });
    // A restarted container starts a new log (the last run's is kept for `kubectl logs --previous`).
    const log = new ContainerLog(logPath, { fresh: c.restartCount > 0 });
    const netns = rt.netns ?? '';
    const cwd = str(spec['workingDir']) ?? '/';
    const proc = spawn(
      'ip',
      ['netns', 'exec', netns, 'unshare', '--uts', '--', 'sh', '-c', containerSetup, 'sh', ...argv],
      {
        cwd: existsSync(cwd) ? cwd : '/',
        env: {
          ...env,
          DEVCLUSTER_HOSTNAME: base['HOSTNAME'] ?? rt.name,
          DEVCLUSTER_SA_DIR: existsSync(saDir) ? saDir : '',
          DEVCLUSTER_MOUNTS_DIR: existsSync(mountsDir) ? mountsDir : '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    log.attach(proc.stdout, 'stdout');
    log.attach(proc.stderr, 'stderr');
    this.event(
      rt,
      c,
      'Normal',
      'Pulled',
      `Container image "${String(spec['image'] ?? '')}" already present on machine`,
    );
    this.event(rt, c, 'Normal', 'Created', `Created container: ${c.name}`);
    this.event(rt, c, 'Normal', 'Started', `Started container ${c.name}`);
    c.proc = proc;
    c.startedAt = now();
    c.ready = false;
    c.state = { running: { startedAt: c.startedAt } };
    proc.on('error', (err) => this.o.log(`kubelet: ${rt.name}/${c.name}: ${err.message}`));
    // The run's output is complete (and `--previous` may copy it) once its pipes have closed.
    proc.on(
      'exit',
      (code, signal) =>
        void log.drained(1000).then(() => {
          log.close();
          this.onExit(rt, c, proc, code, signal);
        }),
    );
    this.startTokenRotation(rt, c, proc);
    if (!c.init) this.startProbes(rt, c);
    this.report(rt);
  }

  private startTokenRotation(rt: PodRuntime, c: ContainerState, proc: ChildProcess): void {
    const pid = proc.pid;
    if (pid === undefined || c.tokens.length === 0) return;
    const sa = str(field(rt.pod, 'spec', 'serviceAccountName')) ?? 'default';
    c.rotation = new TokenRotation(c.tokens, {
      fraction: this.o.tokenRefreshFraction ?? defaultRefreshFraction,
      mint: (t) =>
        this.podToken(rt.pod, sa, { audience: t.audience, expirationSeconds: t.expirationSeconds }),
      write: async (t, content) => {
        await replaceFile(t.mirror, content);
        await writeInContainer(pid, t.file, content);
      },
      log: this.o.log,
    });
  }

  private onExit(
    rt: PodRuntime,
    c: ContainerState,
    proc: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (c.proc !== proc) return;
    c.proc = undefined;
    c.rotation?.stop();
    if (c.probeTimer) clearTimeout(c.probeTimer);
    if (c.livenessTimer) clearTimeout(c.livenessTimer);
    c.ready = false;
    const exitCode = code ?? (signal ? 128 + 9 : 1);
    const terminated = {
      terminated: {
        exitCode,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt: c.startedAt,
        finishedAt: now(),
        containerID: `devcluster://${proc.pid ?? 0}`,
      },
    };
    if (rt.stopping) return;
    const policy = str(field(rt.pod, 'spec', 'restartPolicy')) ?? 'Always';
    const restart = c.init
      ? exitCode !== 0 && policy !== 'Never'
      : policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (!restart) {
      c.state = terminated;
      if (c.init && exitCode !== 0)
        rt.failed = { reason: 'Init:Error', message: `init container ${c.name} failed` };
      this.advance(rt);
      return;
    }
    c.lastState = terminated;
    const logPath = path.join(rt.dir, `${c.name}.log`);
    const previousPath = path.join(rt.dir, `${c.name}.previous.log`);
    if (existsSync(logPath)) {
      // By rename, so that `logs -p` never reads half a copy.
      copyFileSync(logPath, `${previousPath}.tmp`);
      renameSync(`${previousPath}.tmp`, previousPath);
    }
    c.restartCount++;
    const delay = Math.min(1000 * 2 ** (c.restartCount - 1), 10000);
    this.event(
      rt,
      c,
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${c.name} in pod ${rt.name}_${rt.namespace}(${rt.uid})`,
    );
    c.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${rt.name}_${rt.namespace}(${rt.uid})`,
      },
    };
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      if (!rt.stopping) this.startContainer(rt, c);
    }, delay);
    this.report(rt);
  }

  private startProbes(rt: PodRuntime, c: ContainerState): void {
    this.startLivenessProbe(rt, c);
    const readiness = c.spec['readinessProbe'];
    if (!isRecord(readiness)) {
      c.ready = true;
      c.everReady = true;
      return;
    }
    const period = Number(readiness['periodSeconds'] ?? 10) * 1000;
    const initial = Number(readiness['initialDelaySeconds'] ?? 0) * 1000;
    const successThreshold = Number(readiness['successThreshold'] ?? 1);
    const failureThreshold = Number(readiness['failureThreshold'] ?? 3);
    let successes = 0;
    let failures = 0;
    const proc = c.proc;
    const tick = async () => {
      if (rt.stopping || c.proc !== proc || !rt.ip) return;
      const ok = await runProbe(readiness, rt.ip, rt.netns ?? '', c.spec);
      if (rt.stopping || c.proc !== proc) return;
      if (ok) {
        successes++;
        failures = 0;
        if (!c.ready && successes >= successThreshold) {
          c.ready = true;
          c.everReady = true;
          this.report(rt);
        }
      } else {
        failures++;
        successes = 0;
        if (c.everReady || failures >= failureThreshold)
          this.event(rt, c, 'Warning', 'Unhealthy', `Readiness probe failed: ${probeTarget(readiness)}`);
        if (c.ready && failures >= failureThreshold) {
          c.ready = false;
          this.report(rt);
        }
      }
      // Until the first success probe often, so pods become ready soon after they listen.
      c.probeTimer = setTimeout(() => void tick(), c.everReady ? period : Math.min(period, 250));
    };
    c.probeTimer = setTimeout(() => void tick(), initial);
  }

  /** A failing liveness probe kills the container; restartPolicy then decides what happens. */
  private startLivenessProbe(rt: PodRuntime, c: ContainerState): void {
    const liveness = c.spec['livenessProbe'];
    if (!isRecord(liveness)) return;
    const period = Number(liveness['periodSeconds'] ?? 10) * 1000;
    const failureThreshold = Number(liveness['failureThreshold'] ?? 3);
    const proc = c.proc;
    let failures = 0;
    const tick = async () => {
      if (rt.stopping || c.proc !== proc || !rt.ip || !proc) return;
      const ok = await runProbe(liveness, rt.ip, rt.netns ?? '', c.spec);
      if (rt.stopping || c.proc !== proc) return;
      failures = ok ? 0 : failures + 1;
      if (!ok) this.event(rt, c, 'Warning', 'Unhealthy', `Liveness probe failed: ${probeTarget(liveness)}`);
      if (failures >= failureThreshold) {
        this.event(
          rt,
          c,
          'Normal',
          'Killing',
          `Container ${c.name} failed liveness probe, will be restarted`,
        );
        this.o.log(
          `kubelet ${this.o.nodeName}: ${rt.namespace}/${rt.name}/${c.name} failed its liveness probe, restarting`,
        );
        signalGroup(proc, 'SIGKILL');
        return;
      }
      c.livenessTimer = setTimeout(() => void tick(), period);
    };
    c.livenessTimer = setTimeout(
      () => void tick(),
      Number(liveness['initialDelaySeconds'] ?? 0) * 1000 + period,
    );
  }

  private report(rt: PodRuntime): void {
    if (this.closed) return;
    const current = this.o.store.get('pods', rt.namespace, rt.name);
    if (!current || current.metadata.uid !== rt.uid) return;
    const appContainers = rt.containers.filter((c) => !c.init);
    const allReady = appContainers.length > 0 && appContainers.every((c) => c.ready);
    const anyRunning = appContainers.some((c) => c.proc !== undefined);
    const allTerminated = appContainers.every((c) => 'terminated' in c.state);
    let phase = 'Pending';
    if (rt.failed) phase = 'Failed';
    else if (rt.initDone && allTerminated) {
      phase = appContainers.every((c) => field(c.state, 'terminated', 'exitCode') === 0)
        ? 'Succeeded'
        : 'Failed';
    } else if (rt.initDone && (anyRunning || appContainers.some((c) => c.restartCount > 0)))
      phase = 'Running';
    const old = isRecord(current['status']) ? current['status'] : {};
    const oldConds = Array.isArray(old['conditions']) ? (old['conditions'] as Rec[]) : [];
    const cond = (type: string, ok: boolean) => {
      const status = ok ? 'True' : 'False';
      const prev = oldConds.find((x) => x['type'] === type);
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime: prev && prev['status'] === status ? prev['lastTransitionTime'] : now(),
      };
    };
    const cs = (c: ContainerState) => ({
      name: c.name,
      state: c.state,
      lastState: c.lastState,
      ready: c.ready,
      restartCount: c.restartCount,
      image: String(c.spec['image'] ?? ''),
      imageID: `devcluster://${String(c.spec['image'] ?? '')}`,
      ...(c.proc?.pid ? { containerID: `devcluster://${c.proc.pid}` } : {}),
      started: c.proc !== undefined,
    });
    const status: Rec = {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', rt.netns !== undefined),
        cond('Initialized', rt.initDone),
        cond('Ready', allReady && !rt.stopping),
        cond('ContainersReady', allReady),
        cond('PodScheduled', true),
      ],
      hostIP: nodeGateway(this.o.nodeIndex),
      hostIPs: [{ ip: nodeGateway(this.o.nodeIndex) }],
      ...(rt.ip ? { podIP: rt.ip, podIPs: [{ ip: rt.ip }] } : {}),
      startTime: rt.startTime,
      qosClass: str(old['qosClass']) ?? 'BestEffort',
      containerStatuses: appContainers.map(cs),
      ...(rt.containers.some((c) => c.init)
        ? { initContainerStatuses: rt.containers.filter((c) => c.init).map(cs) }
        : {}),
    };
    if (JSON.stringify(status) === JSON.stringify(old)) return;
    const next = clone(current);
    next['status'] = status;
    try {
      this.o.store.update('pods', next, { subresource: 'status' });
    } catch {
      /* raced with a change: the next report catches up */
    }
  }

  private async stopPod(rt: PodRuntime, graceSeconds: number, finalize: boolean): Promise<void> {
    if (rt.stopping) return;
    rt.stopping = true;
    this.report(rt);
    const procs = rt.containers.flatMap((c) => {
      if (c.probeTimer) clearTimeout(c.probeTimer);
      if (c.livenessTimer) clearTimeout(c.livenessTimer);
      if (c.restartTimer) clearTimeout(c.restartTimer);
      c.rotation?.stop();
      return c.proc ? [c.proc] : [];
    });
    const exited = procs.map(
      (p) =>
        new Promise<void>((r) =>
          p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r()),
        ),
    );
    for (const c of rt.containers)
      if (c.proc && finalize) this.event(rt, c, 'Normal', 'Killing', `Stopping container ${c.name}`);
    for (const p of procs) signalGroup(p, 'SIGTERM');
    const graceMs = Math.min(Math.max(graceSeconds, 0), 30) * 1000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exited), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    if (timer) clearTimeout(timer);
    for (const p of procs) signalGroup(p, 'SIGKILL');
    if (rt.id !== undefined) await deletePodNetwork(this.o.names, rt.id);
    if (rt.ip && rt.id !== undefined) this.podIps.release(Number(rt.ip.split('.')[3]));
    await rm(rt.dir, { recursive: true, force: true });
    this.pods.delete(rt.uid);
    if (finalize) this.finalize(rt.pod);
  }

  private finalize(pod: KubeObject): void {
    const cur = this.o.store.get('pods', pod.metadata.namespace, pod.metadata.name ?? '');
    if (cur && cur.metadata.uid === pod.metadata.uid) {
      try {
        this.o.store.delete('pods', pod.metadata.namespace, pod.metadata.name ?? '');
      } catch {
        /* already gone */
      }
    }
  }

  /** Stops every pod at once (cluster shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await Promise.all([...this.pods.values()].map((rt) => this.stopPod(rt, 0, false)));
  }
}

function signalGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    try {
      p.kill(sig);
    } catch {
      /* gone */
    }
  }
}

/** spec.hostAliases as the kubelet writes them into the pod's /etc/hosts. */
function hostAliasLines(aliases: unknown): string {
  if (!Array.isArray(aliases)) return '';
  return aliases
    .map((a: unknown) => {
      const r = (typeof a === 'object' && a !== null ? a : {}) as Record<string, unknown>;
      const names = Array.isArray(r['hostnames']) ? r['hostnames'].filter((h) => typeof h === 'string') : [];
      return typeof r['ip'] === 'string' && names.length > 0 ? `${r['ip']}\t${names.join('\t')}\n` : '';
    })
    .join('');
}
