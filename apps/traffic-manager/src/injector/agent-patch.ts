// What the agent-injector does to a pod (pure: pod + the namespace's Services in, JSON patch out).
//
// A pod gets the traffic-agent container when its template carries ENABLE_ANNOTATION=enabled (the manager
// sets it, once, when an intercept asks for an agent). The agent takes over every TCP port a Service
// targets in the pod, and forwards to the app when nobody intercepts:
//
//   named targetPort ("http")   The app container's port is renamed ("tp-http", same number) and the
//                               agent container declares a port with the original name on its own
//                               agent port. The Service resolves the name per pod, so it now reaches
//                               the agent; the app keeps listening where it always did, unchanged. The
//                               app's probes that used the name get the number, so they keep probing
//                               the app. This needs no privileges and no change to the Service or the
//                               app, and works in any process-per-container model (devcluster's too).
//   numeric targetPort (8080)   The Service keeps sending to podIP:8080, where the app listens. The
//                               agent (redirect=true) adds an nft PREROUTING redirect 8080 -> agent
//                               port inside the pod's network namespace, like the original's init
//                               container; its own connections to the app (OUTPUT) are not redirected.
//                               This one needs NET_ADMIN in the pod, which the agent container gets.
//
// Either way there is no port a mesh must learn: callers use the Service as before.
import type { V1Container, V1ContainerPort, V1Pod, V1Probe, V1Service } from '@kubernetes/client-node';

export const ENABLE_ANNOTATION = 'telepresence.io/inject-traffic-agent';
export const WORKLOAD_ANNOTATION = 'telepresence.io/workload';
export const INJECTED_ANNOTATION = 'telepresence.io/agent-injected';
export const AGENT_CONTAINER = 'traffic-agent';
export const RENAMED_PREFIX = 'tp-';
export const FIRST_AGENT_PORT = 9900;
/**
 * The agent's credential towards the manager: its pod's service-account token for this audience, bound
 * to the pod (the manager checks the binding, auth/caller-auth.ts), mounted into the agent container only.
 */
export const AGENT_TOKEN_VOLUME = 'traffic-agent-token';
export const AGENT_TOKEN_DIR = '/var/run/secrets/telepresence.io/agent';
export const AGENT_TOKEN_AUDIENCE = 'telepresence-agent';

export interface AgentSettings {
  readonly image: string;
  readonly managerHost: string;
  readonly managerPort: number;
  readonly logLevel: string;
  readonly firstAgentPort?: number;
  /** Lifetime of the agent's projected token (the kubelet renews it at 80%); default 3600. */
  readonly tokenExpirationSeconds?: number;
}

/** One port the agent takes over (becomes the agent's AGENT_PORTS entry). */
export interface PlannedPort {
  serviceName: string;
  servicePortName: string;
  servicePort: number;
  targetPortName: string;
  containerPort: number;
  agentPort: number;
  redirect: boolean;
}

export type JsonPatchOp =
  { op: 'add'; path: string; value: unknown } | { op: 'replace'; path: string; value: unknown };

export type InjectDecision =
  | { inject: false; reason: string }
  | { inject: true; workload: string; ports: PlannedPort[]; patch: JsonPatchOp[] };

function selects(service: V1Service, labels: Record<string, string>): boolean {
  const sel = service.spec?.selector;
  if (sel === undefined || Object.keys(sel).length === 0) return false;
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/** The workload a pod belongs to: the annotation the manager set, else the owner's name minus the hash. */
export function workloadOf(pod: V1Pod): string | undefined {
  const fromAnnotation = pod.metadata?.annotations?.[WORKLOAD_ANNOTATION];
  if (fromAnnotation !== undefined && fromAnnotation !== '') return fromAnnotation;
  const owner =
    pod.metadata?.ownerReferences?.find((o) => o.controller === true) ?? pod.metadata?.ownerReferences?.[0];
  if (owner === undefined) return undefined;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`))
    return owner.name.slice(0, -hash.length - 1);
  return owner.name;
}

/** Port names are IANA_SVC_NAMEs: at most 15 characters. */
function renamed(name: string): string {
  return `${RENAMED_PREFIX}${name}`.slice(0, 15);
}

/** Plans the ports; pure and deterministic (Service and port order). */
export function planPorts(
  pod: V1Pod,
  services: readonly V1Service[],
  firstAgentPort = FIRST_AGENT_PORT,
): PlannedPort[] {
  const containers = pod.spec?.containers ?? [];
  const labels = pod.metadata?.labels ?? {};
  const planned: PlannedPort[] = [];
  const agentPortFor = new Map<number, number>();
  let next = firstAgentPort;
  const used = new Set(containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
  const sorted = [...services].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const svc of sorted) {
    if (!selects(svc, labels)) continue;
    for (const sp of svc.spec?.ports ?? []) {
      if ((sp.protocol ?? 'TCP') !== 'TCP') continue;
      const target = sp.targetPort ?? sp.port;
      let containerPort: number | undefined;
      let targetPortName = '';
      if (typeof target === 'string' && !/^\d+$/.test(target)) {
        targetPortName = target;
        for (const c of containers) {
          const p = (c.ports ?? []).find((x) => x.name === target && (x.protocol ?? 'TCP') === 'TCP');
          if (p !== undefined) containerPort = p.containerPort;
        }
        if (containerPort === undefined) continue; // the Service reaches nothing here by that name
      } else {
        containerPort = Number(target);
      }
      let agentPort = agentPortFor.get(containerPort);
      if (agentPort === undefined) {
        while (used.has(next)) next++;
        agentPort = next++;
        agentPortFor.set(containerPort, agentPort);
      }
      planned.push({
        serviceName: svc.metadata?.name ?? '',
        servicePortName: sp.name ?? '',
        servicePort: sp.port,
        targetPortName,
        containerPort,
        agentPort,
        redirect: targetPortName === '',
      });
    }
  }
  return planned;
}

function fieldEnv(name: string, fieldPath: string) {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

export function agentContainer(
  settings: AgentSettings,
  workload: string,
  ports: readonly PlannedPort[],
): V1Container {
  const declared = new Map<number, V1ContainerPort>();
  for (const p of ports) {
    if (declared.has(p.agentPort)) continue;
    declared.set(p.agentPort, {
      containerPort: p.agentPort,
      protocol: 'TCP',
      ...(p.targetPortName === '' ? {} : { name: p.targetPortName }),
    });
  }
  const needsRedirect = ports.some((p) => p.redirect);
  return {
    name: AGENT_CONTAINER,
    image: settings.image,
    env: [
      { name: 'AGENT_MANAGER_HOST', value: settings.managerHost },
      { name: 'AGENT_MANAGER_PORT', value: String(settings.managerPort) },
      { name: 'AGENT_WORKLOAD', value: workload },
      { name: 'AGENT_LOG_LEVEL', value: settings.logLevel },
      { name: 'AGENT_PORTS', value: JSON.stringify(ports) },
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_IP', 'status.podIP'),
      { name: 'AGENT_TOKEN_FILE', value: `${AGENT_TOKEN_DIR}/token` },
    ],
    volumeMounts: [{ name: AGENT_TOKEN_VOLUME, mountPath: AGENT_TOKEN_DIR, readOnly: true }],
    ports: [...declared.values()],
    resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '256Mi' } },
    securityContext: needsRedirect
      ? { runAsUser: 0, capabilities: { add: ['NET_ADMIN'] } }
      : { runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false },
  };
}

/** A probe that names a renamed port gets the number (it must keep probing the app, not the agent). */
function probeFix(probe: V1Probe | undefined, names: ReadonlyMap<string, number>): V1Probe | undefined {
  if (probe === undefined) return undefined;
  const fix = <T extends { port: unknown }>(h: T | undefined): T | undefined =>
    h !== undefined && typeof h.port === 'string' && names.has(h.port)
      ? { ...h, port: names.get(h.port) }
      : undefined;
  const http = fix(probe.httpGet);
  const tcp = fix(probe.tcpSocket);
  if (http === undefined && tcp === undefined) return undefined;
  return { ...probe, ...(http ? { httpGet: http } : {}), ...(tcp ? { tcpSocket: tcp } : {}) };
}

/** Decides whether and how to inject; the patch is RFC 6902 against the pod as given. */
export function decideInjection(
  pod: V1Pod,
  services: readonly V1Service[],
  settings: AgentSettings,
): InjectDecision {
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[ENABLE_ANNOTATION] !== 'enabled')
    return { inject: false, reason: `no ${ENABLE_ANNOTATION}=enabled annotation` };
  const containers = pod.spec?.containers ?? [];
  if (containers.some((c) => c.name === AGENT_CONTAINER))
    return { inject: false, reason: 'the pod already has a traffic-agent container' };
  const workload = workloadOf(pod);
  if (workload === undefined) return { inject: false, reason: 'the pod belongs to no workload' };
  const ports = planPorts(pod, services, settings.firstAgentPort);
  const patch: JsonPatchOp[] = [];
  containers.forEach((c, ci) => {
    const renames = new Map<string, number>();
    (c.ports ?? []).forEach((p, pi) => {
      if (
        p.name !== undefined &&
        ports.some((x) => x.targetPortName === p.name && x.containerPort === p.containerPort)
      ) {
        renames.set(p.name, p.containerPort);
        patch.push({
          op: 'replace',
          path: `/spec/containers/${ci}/ports/${pi}/name`,
          value: renamed(p.name),
        });
      }
    });
    for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
      const fixed = probeFix(c[kind], renames);
      if (fixed !== undefined)
        patch.push({ op: 'replace', path: `/spec/containers/${ci}/${kind}`, value: fixed });
    }
  });
  patch.push({ op: 'add', path: '/spec/containers/-', value: agentContainer(settings, workload, ports) });
  const tokenVolume = {
    name: AGENT_TOKEN_VOLUME,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: AGENT_TOKEN_AUDIENCE,
            expirationSeconds: settings.tokenExpirationSeconds ?? 3600,
            path: 'token',
          },
        },
      ],
    },
  };
  patch.push(
    pod.spec?.volumes === undefined
      ? { op: 'add', path: '/spec/volumes', value: [tokenVolume] }
      : { op: 'add', path: '/spec/volumes/-', value: tokenVolume },
  );
  patch.push(
    pod.metadata?.annotations === undefined
      ? { op: 'add', path: '/metadata/annotations', value: { [INJECTED_ANNOTATION]: 'true' } }
      : { op: 'add', path: `/metadata/annotations/${INJECTED_ANNOTATION.replace('/', '~1')}`, value: 'true' },
  );
  return { inject: true, workload, ports, patch };
}
