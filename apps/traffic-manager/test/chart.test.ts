// charts/telepresence: `helm lint --strict` and `helm template` with several values sets (the real helm from
// tools/bin, fetched by tools/fetch-k8s-tools.sh), every rendered manifest validated against the Kubernetes
// schemas (kubernetes-models), and the manager's env checked against what main.ts parses.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Deployment } from 'kubernetes-models/apps/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

import { subnetMath } from '../src/cluster-info/subnet-math.js';
import { parseConfig } from '../src/config.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const chart = path.join(repo, 'charts/telepresence');
const helm = path.join(repo, 'tools/bin/helm');

type Manifest = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const validators: Record<string, (m: Manifest) => { validate(): void }> = {
  Deployment: (m) => new Deployment(m as never),
  Service: (m) => new Service(m as never),
  ServiceAccount: (m) => new ServiceAccount(m as never),
  Role: (m) => new Role(m as never),
  RoleBinding: (m) => new RoleBinding(m as never),
  ClusterRole: (m) => new ClusterRole(m as never),
  ClusterRoleBinding: (m) => new ClusterRoleBinding(m as never),
  MutatingWebhookConfiguration: (m) => new MutatingWebhookConfiguration(m as never),
};

function helmRun(args: string[]): string {
  return execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function render(values: Record<string, unknown> = {}): Manifest[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-chart-'));
  try {
    const file = path.join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const out = helmRun(['template', 'tm', chart, '--namespace', 'ambassador', '--values', file]);
    return parseAllDocuments(out)
      .map((d) => d.toJS() as Manifest | null)
      .filter((m): m is Manifest => m !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function renderError(values: Record<string, unknown>): string {
  try {
    render(values);
  } catch (e) {
    return String((e as { stderr?: unknown }).stderr ?? e);
  }
  throw new Error('helm template unexpectedly succeeded');
}

/** The manager container's env as the kubelet would give it, downward-API values filled in. */
function managerEnv(manifests: Manifest[]): Record<string, string> {
  const deployment = manifests.find((m) => m.kind === 'Deployment') as unknown as {
    spec: {
      template: {
        spec: {
          containers: Array<{
            env: Array<{ name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }>;
          }>;
        };
      };
    };
  };
  const downward: Record<string, string> = {
    'status.podIP': '198.18.1.10',
    'metadata.name': 'traffic-manager-abc',
    'metadata.namespace': 'ambassador',
  };
  const env = deployment.spec.template.spec.containers[0]!.env;
  return Object.fromEntries(
    env.map((e) => [e.name, e.value ?? downward[e.valueFrom?.fieldRef.fieldPath ?? ''] ?? '']),
  );
}

const valueSets: Array<[string, Record<string, unknown>]> = [
  ['defaults', {}],
  ['environment strategy', { podCIDRStrategy: 'environment', podCIDRs: ['198.18.1.0/24', '198.18.2.0/24'] }],
  [
    'everything set',
    {
      image: {
        registry: 'registry.example.test/tp',
        name: 'traffic-manager',
        tag: '1.2.3',
        pullPolicy: 'Always',
      },
      apiPort: 9081,
      metrics: { port: 9100 },
      logLevel: 'debug',
      podCIDRStrategy: 'coverPodIPs',
      serviceCIDR: '198.19.0.0/20',
      clusterDomain: 'corp.example',
      sessions: { clientTTL: '1h', agentTTL: '20s' },
      grpc: { maxReceiveSize: '8Mi' },
      client: {
        routing: {
          alsoProxySubnets: ['198.51.100.0/24'],
          neverProxySubnets: ['198.18.9.0/24'],
          allowConflictingSubnets: ['198.51.100.0/25'],
        },
        dns: { includeSuffixes: ['.internal'], excludeSuffixes: [] },
      },
      agent: { image: { name: 'traffic-agent', tag: '1.2.3' } },
      resources: { limits: { memory: '256Mi' } },
      podAnnotations: { 'example.test/a': 'b' },
    },
  ],
];

describe('charts/telepresence', () => {
  beforeAll(() => {
    if (!existsSync(helm))
      throw new Error(`${helm} is missing: run "npm run tools" (tools/fetch-k8s-tools.sh) first`);
  });

  it('passes helm lint --strict', () => {
    expect(helmRun(['lint', '--strict', chart])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it.each(valueSets)('%s: every manifest is valid Kubernetes', (_name, values) => {
    const manifests = render(values);
    expect(manifests.map((m) => m.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRole',
      'ClusterRole', // traffic-manager-client-intercept (auth)
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'Deployment',
      'MutatingWebhookConfiguration',
      'Role',
      'Role', // traffic-manager-client (auth)
      'RoleBinding',
      'RoleBinding',
      'Service',
      'Service',
      'Service',
      'ServiceAccount',
      'ServiceAccount', // traffic-manager-client (auth)
    ]);
    for (const m of manifests) {
      const make = validators[m.kind];
      if (make === undefined) throw new Error(`no validator for ${m.kind}`);
      expect(() => make(m).validate()).not.toThrow();
    }
  });

  it.each(valueSets)('%s: the env is a valid manager configuration', (_name, values) => {
    const config = parseConfig(managerEnv(render(values)), subnetMath);
    expect(config.podIp).toBe('198.18.1.10');
    expect(config.namespace).toBe('ambassador');
  });

  it('passes every setting to the manager', () => {
    const manifests = render(valueSets[2]![1]);
    const env = managerEnv(manifests);
    expect(env).toMatchObject({
      LOG_LEVEL: 'debug',
      SERVER_PORT: '9081',
      METRICS_PORT: '9100',
      POD_CIDR_STRATEGY: 'coverPodIPs',
      POD_CIDRS: '',
      SERVICE_CIDR: '198.19.0.0/20',
      CLUSTER_DOMAIN: 'corp.example',
      CLIENT_CONNECTION_TTL: '1h',
      AGENT_SESSION_TTL: '20s',
      GRPC_MAX_RECEIVE_SIZE: '8Mi',
      CLIENT_ROUTING_ALSO_PROXY_SUBNETS: '198.51.100.0/24',
      CLIENT_ROUTING_NEVER_PROXY_SUBNETS: '198.18.9.0/24',
      CLIENT_ROUTING_ALLOW_CONFLICTING_SUBNETS: '198.51.100.0/25',
      CLIENT_DNS_INCLUDE_SUFFIXES: '.internal',
      CLIENT_DNS_EXCLUDE_SUFFIXES: '',
      AGENT_IMAGE: 'traffic-agent:1.2.3',
    });
    const config = parseConfig(env, subnetMath);
    expect(config).toMatchObject({
      serverPort: 9081,
      metricsPort: 9100,
      serviceCidr: '198.19.0.0/20',
      clusterDomain: 'corp.example',
      clientSessionTtlMs: 3_600_000,
      agentSessionTtlMs: 20_000,
      dns: { includeSuffixes: ['.internal'], excludeSuffixes: [] },
    });
    const deployment = manifests.find((m) => m.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    expect(deployment.spec.template.spec.containers[0]!.image).toBe(
      'registry.example.test/tp/traffic-manager:1.2.3',
    );
  });

  it('defaults: environment list, no service CIDR override, image tag = appVersion', () => {
    const env = managerEnv(render(valueSets[1]![1]));
    expect(env['POD_CIDRS']).toBe('198.18.1.0/24 198.18.2.0/24');
    expect(env['SERVICE_CIDR']).toBeUndefined();
    const config = parseConfig(env, subnetMath);
    expect(config.podCidrs).toEqual(['198.18.1.0/24', '198.18.2.0/24']);
    expect(config.dns.excludeSuffixes).toEqual(['.com', '.io', '.net', '.org', '.ru']);
  });

  it('has a headless API service, a metrics service and a readiness probe', () => {
    const manifests = render();
    const api = manifests.find(
      (m) => m.kind === 'Service' && m.metadata.name === 'traffic-manager',
    ) as unknown as { spec: { clusterIP: string; ports: Array<{ name: string; port: number }> } };
    expect(api.spec.clusterIP).toBe('None');
    expect(api.spec.ports).toEqual([expect.objectContaining({ name: 'api', port: 8081 })]);
    expect(manifests.some((m) => m.kind === 'Service' && m.metadata.name === 'traffic-manager-metrics')).toBe(
      true,
    );
    const dep = manifests.find((m) => m.kind === 'Deployment') as unknown as {
      spec: {
        template: { spec: { containers: Array<{ readinessProbe: unknown; securityContext: unknown }> } };
      };
    };
    expect(dep.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({
      httpGet: { path: '/healthz', port: 'metrics' },
    });
  });

  it('grants only what the manager calls, one rule per feature (README.md)', () => {
    const manifests = render();
    const rulesOf = (kind: string, name: string) =>
      (manifests.find((m) => m.kind === kind && m.metadata.name === name) as unknown as { rules: unknown[] })
        .rules;
    const role = manifests.find((m) => m.kind === 'Role') as unknown as { metadata: { namespace: string } };
    expect(role.metadata.namespace).toBe('ambassador');
    expect(rulesOf('Role', 'traffic-manager')).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['create'] },
      { apiGroups: [''], resources: ['services'], resourceNames: ['t2-tst-dummy'], verbs: ['delete'] },
    ]);
    expect(rulesOf('ClusterRole', 'traffic-manager-ambassador')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['namespaces'], resourceNames: ['default'], verbs: ['get'] },
      { apiGroups: ['networking.k8s.io'], resources: ['servicecidrs'], verbs: ['list'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    const hook = 'agent-injector-ambassador';
    expect(rulesOf('ClusterRole', 'traffic-manager-injector-ambassador')).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [hook],
        verbs: ['get'],
      },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [hook],
        verbs: ['patch'],
      },
    ]);
  });

  it('auth: the mode reaches the manager; the client service account may connect and intercept where told', () => {
    const env = managerEnv(render({ auth: { mode: 'permissive', reviewTTL: '2s' } }));
    expect(env).toMatchObject({
      AUTH_MODE: 'permissive',
      AUTH_REVIEW_TTL: '2s',
      AGENT_TOKEN_EXPIRATION: '3600',
    });
    const defaults = render();
    expect(
      (
        defaults.find(
          (m) => m.kind === 'Role' && m.metadata.name === 'traffic-manager-client',
        ) as unknown as {
          rules: unknown[];
        }
      ).rules,
    ).toEqual([{ apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] }]);
    expect(
      defaults.some(
        (m) =>
          m.kind === 'ClusterRoleBinding' &&
          m.metadata.name === 'traffic-manager-client-intercept-ambassador',
      ),
    ).toBe(true);
    const scoped = render({ auth: { clientServiceAccount: { interceptNamespaces: ['team-a', 'team-b'] } } });
    expect(
      scoped
        .filter(
          (m) => m.kind === 'RoleBinding' && m.metadata.name.startsWith('traffic-manager-client-intercept'),
        )
        .map((m) => m.metadata.namespace),
    ).toEqual(['team-a', 'team-b']);
    expect(scoped.some((m) => m.kind === 'ClusterRoleBinding' && m.metadata.name.includes('client'))).toBe(
      false,
    );
    // disabled: no review rules, no client service account
    const off = render({ auth: { mode: 'disabled' } });
    expect(off.some((m) => m.metadata.name.includes('traffic-manager-client'))).toBe(false);
    expect(JSON.stringify(off)).not.toContain('tokenreviews');
    expect(() => render({ auth: { mode: 'strict' } })).toThrow(/mode/);
  });

  it('apiTLS: a TLS port, the CA ConfigMap and the rules to write and read it, only when a port is set', () => {
    expect(render().some((m) => m.metadata.name === 'traffic-manager-ca')).toBe(false);
    const manifests = render({ apiTLS: { port: 8082 }, clientRbac: { create: true } });
    expect(managerEnv(manifests)['TLS_PORT']).toBe('8082');
    expect(manifests.some((m) => m.kind === 'ConfigMap' && m.metadata.name === 'traffic-manager-ca')).toBe(
      true,
    );
    const rules = (kind: string, name: string) =>
      (manifests.find((m) => m.kind === kind && m.metadata.name === name) as unknown as { rules: unknown[] })
        .rules;
    expect(rules('Role', 'traffic-manager')).toContainEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['traffic-manager-ca'],
      verbs: ['get', 'update'],
    });
    expect(rules('ClusterRole', 'telepresence-client-ambassador')).toContainEqual({
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['traffic-manager-ca'],
      verbs: ['get'],
    });
  });

  it('renders the optional client ClusterRole and its RoleBinding in the manager namespace', () => {
    expect(render().some((m) => m.metadata.name.startsWith('telepresence-client'))).toBe(false);
    const manifests = render({
      clientRbac: {
        create: true,
        subjects: [{ kind: 'Group', name: 'devs', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    const role = manifests.find(
      (m) => m.kind === 'ClusterRole' && m.metadata.name === 'telepresence-client-ambassador',
    ) as unknown as { rules: unknown[] };
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
      {
        apiGroups: [''],
        resources: ['serviceaccounts/token'],
        resourceNames: ['traffic-manager-client'],
        verbs: ['create'],
      },
    ]);
    const binding = manifests.find(
      (m) => m.kind === 'RoleBinding' && m.metadata.name === 'telepresence-client',
    ) as unknown as {
      metadata: { namespace: string };
      subjects: unknown[];
    };
    expect(binding.metadata.namespace).toBe('ambassador');
    expect(binding.subjects).toEqual([
      { kind: 'Group', name: 'devs', apiGroup: 'rbac.authorization.k8s.io' },
    ]);
  });

  it.each([
    [{ podCIDRStrategy: 'environment' }, /podCIDRs.*minItems/],
    [{ podCIDRStrategy: 'guess' }, /podCIDRStrategy.*must be one of/],
    [{ serviceCIDR: '198.19.0.0' }, /serviceCIDR/],
    [{ logLevel: 'loud' }, /logLevel/],
    [{ apiPort: 0 }, /apiPort/],
    [{ unknownKey: 1 }, /additional properties 'unknownKey' not allowed|unknownKey/],
  ])('rejects bad values %p', (values, message) => {
    expect(renderError(values)).toMatch(message);
  });
});

describe('charts/telepresence agent-injector', () => {
  it('renders the webhook with failurePolicy Ignore, its Service and the env the manager reads', () => {
    const manifests = render();
    const hook = manifests.find((m) => m.kind === 'MutatingWebhookConfiguration') as unknown as {
      metadata: { name: string };
      webhooks: Array<{
        failurePolicy: string;
        clientConfig: { service: { name: string; namespace: string } };
      }>;
    };
    expect(hook.metadata.name).toBe('agent-injector-ambassador');
    expect(hook.webhooks[0]).toMatchObject({
      failurePolicy: 'Ignore',
      clientConfig: { service: { name: 'agent-injector', namespace: 'ambassador' } },
    });
    expect(manifests.some((m) => m.kind === 'Service' && m.metadata.name === 'agent-injector')).toBe(true);
    expect(managerEnv(manifests)).toMatchObject({
      AGENT_INJECTOR_ENABLED: 'true',
      AGENT_INJECTOR_PORT: '8443',
      AGENT_INJECTOR_WEBHOOK: 'agent-injector-ambassador',
    });
  });

  it('renders none of it when disabled', () => {
    const kinds = render({ agentInjector: { enabled: false } }).map((m) => m.kind);
    expect(kinds).not.toContain('MutatingWebhookConfiguration');
  });
});
