import type { V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';

import { decideInjection, planPorts, workloadOf, type JsonPatchOp } from './agent-patch.js';

const settings = {
  image: 'traffic-agent:test',
  managerHost: 'traffic-manager.ambassador',
  managerPort: 8081,
  logLevel: 'info',
};

function pod(
  annotations: Record<string, string> | undefined = { 'telepresence.io/inject-traffic-agent': 'enabled' },
): V1Pod {
  return {
    metadata: {
      name: 'echo-abc12-xyz',
      namespace: 'default',
      labels: { app: 'echo', 'pod-template-hash': 'abc12' },
      ...(annotations === undefined ? {} : { annotations }),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'echo-abc12', uid: 'u', controller: true },
      ],
    },
    spec: {
      containers: [
        {
          name: 'echo',
          image: 'echo:latest',
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'tcp', containerPort: 9000 },
            { name: 'udp', containerPort: 9001, protocol: 'UDP' },
          ],
          readinessProbe: { tcpSocket: { port: 'http' as never }, periodSeconds: 1 },
        },
      ],
    },
  };
}

const svc = (name: string, ports: V1ServicePort[], selector = { app: 'echo' }): V1Service => ({
  metadata: { name, namespace: 'default' },
  spec: { selector, ports },
});

const echoSvc = svc('echo', [
  { name: 'http', port: 80, targetPort: 'http' as never },
  { name: 'tcp', port: 9000, targetPort: 9000 as never },
  { name: 'udp', port: 9001, targetPort: 'udp' as never, protocol: 'UDP' },
]);

function applyPatch(p: V1Pod, ops: JsonPatchOp[]): V1Pod {
  const out = structuredClone(p) as unknown as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replace('~1', '/'));
    let at: Record<string, unknown> | unknown[] = out;
    for (const k of parts.slice(0, -1)) at = (at as Record<string, unknown>)[k] as Record<string, unknown>;
    const last = parts.at(-1)!;
    if (Array.isArray(at) && last === '-') at.push(op.value);
    else (at as Record<string, unknown>)[last] = op.value;
  }
  return out as unknown as V1Pod;
}

describe('agent injection', () => {
  it('finds the workload from the annotation or the ReplicaSet owner', () => {
    expect(workloadOf(pod())).toBe('echo');
    expect(workloadOf(pod({ 'telepresence.io/workload': 'other' }))).toBe('other');
  });

  it('plans named ports (rename) and numeric ports (redirect), TCP only, unrelated Services ignored', () => {
    const ports = planPorts(pod(), [
      echoSvc,
      svc('other', [{ port: 80, targetPort: 8080 as never }], { app: 'web' }),
    ]);
    expect(ports).toEqual([
      {
        serviceName: 'echo',
        servicePortName: 'http',
        servicePort: 80,
        targetPortName: 'http',
        containerPort: 8080,
        agentPort: 9900,
        redirect: false,
      },
      {
        serviceName: 'echo',
        servicePortName: 'tcp',
        servicePort: 9000,
        targetPortName: '',
        containerPort: 9000,
        agentPort: 9901,
        redirect: true,
      },
    ]);
  });

  it('patches: app port renamed, probe keeps the app, agent container added with the name and env', () => {
    const d = decideInjection(pod(), [echoSvc], settings);
    if (!d.inject) throw new Error(d.reason);
    const out = applyPatch(pod(), d.patch);
    const [app, agent] = out.spec!.containers;
    expect(app!.ports!.map((p) => p.name)).toEqual(['tp-http', 'tcp', 'udp']);
    expect(app!.readinessProbe!.tcpSocket!.port).toBe(8080);
    expect(agent!.name).toBe('traffic-agent');
    expect(agent!.image).toBe('traffic-agent:test');
    expect(agent!.ports).toEqual([
      { containerPort: 9900, protocol: 'TCP', name: 'http' },
      { containerPort: 9901, protocol: 'TCP' },
    ]);
    const env = Object.fromEntries(
      agent!.env!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]),
    );
    expect(env).toMatchObject({
      AGENT_MANAGER_HOST: 'traffic-manager.ambassador',
      AGENT_MANAGER_PORT: '8081',
      AGENT_WORKLOAD: 'echo',
      POD_IP: 'status.podIP',
    });
    expect(JSON.parse(env['AGENT_PORTS']!)).toHaveLength(2);
    expect(agent!.securityContext!.capabilities!.add).toEqual(['NET_ADMIN']);
    expect(out.metadata!.annotations!['telepresence.io/agent-injected']).toBe('true');
  });

  it("mounts the pod's agent-audience token into the agent container only", () => {
    const d = decideInjection(pod(), [echoSvc], { ...settings, tokenExpirationSeconds: 900 });
    if (!d.inject) throw new Error(d.reason);
    const out = applyPatch(pod(), d.patch);
    const [app, agent] = out.spec!.containers;
    expect(out.spec!.volumes).toContainEqual({
      name: 'traffic-agent-token',
      projected: {
        sources: [
          { serviceAccountToken: { audience: 'telepresence-agent', expirationSeconds: 900, path: 'token' } },
        ],
      },
    });
    expect(agent!.volumeMounts).toEqual([
      { name: 'traffic-agent-token', mountPath: '/var/run/secrets/telepresence.io/agent', readOnly: true },
    ]);
    expect(agent!.env).toContainEqual({
      name: 'AGENT_TOKEN_FILE',
      value: '/var/run/secrets/telepresence.io/agent/token',
    });
    expect(app!.volumeMounts ?? []).toEqual([]);
  });

  it('agent port numbers skip ports the pod already uses', () => {
    const p = pod();
    p.spec!.containers[0]!.ports!.push({ name: 'admin', containerPort: 9900 });
    expect(planPorts(p, [echoSvc]).map((x) => x.agentPort)).toEqual([9901, 9902]);
  });

  it('leaves pods alone without the annotation or with an agent already', () => {
    expect(decideInjection(pod({}), [echoSvc], settings)).toMatchObject({ inject: false });
    const d = decideInjection(pod(), [echoSvc], settings);
    if (!d.inject) throw new Error('expected injection');
    expect(decideInjection(applyPatch(pod(), d.patch), [echoSvc], settings)).toMatchObject({
      inject: false,
      reason: 'the pod already has a traffic-agent container',
    });
  });

  it('injects an agent without ports when no Service selects the pod (DNS and connection origin)', () => {
    const d = decideInjection(pod(), [], settings);
    expect(d).toMatchObject({ inject: true, ports: [] });
  });

  it('a named and a numeric Service reaching one container port share its agent port', () => {
    const headless = svc('echo-headless', [{ name: 'http', port: 8080, targetPort: 8080 as never }]);
    const ports = planPorts(pod(), [echoSvc, headless]);
    const http = ports.filter((p) => p.containerPort === 8080);
    expect(http.map((p) => [p.serviceName, p.agentPort, p.redirect])).toEqual([
      ['echo', 9900, false],
      ['echo-headless', 9900, true],
    ]);
    const d = decideInjection(pod(), [echoSvc, headless], settings);
    if (!d.inject) throw new Error(d.reason);
    const agent = applyPatch(pod(), d.patch).spec!.containers[1]!;
    expect(agent.ports!.map((p) => p.containerPort)).toEqual([9900, 9901]);
  });
});
