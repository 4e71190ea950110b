// The default ClusterRoles and ClusterRoleBindings a kube-apiserver creates at start
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), reduced to the resources devcluster serves:
// cluster-admin (bound to system:masters), admin/edit/view (aggregated from system:aggregate-to-*),
// system:basic-user (self reviews), system:discovery and system:public-info-viewer.
import type { KubeObject } from './object.js';
import type { PolicyRule } from './rbac.js';

const bootstrapLabels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const autoupdate = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
const rbacGroup = 'rbac.authorization.k8s.io';

const read = ['get', 'list', 'watch'];
const write = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const rule = (apiGroups: string[], resources: string[], verbs: string[]): PolicyRule => ({
  apiGroups,
  resources,
  verbs,
});

function clusterRole(
  name: string,
  rules: PolicyRule[],
  extra: Record<string, string> = {},
  aggregateFrom?: string,
): KubeObject {
  return {
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRole',
    metadata: { name, labels: { ...bootstrapLabels, ...extra }, annotations: autoupdate },
    ...(aggregateFrom
      ? {
          aggregationRule: {
            clusterRoleSelectors: [
              { matchLabels: { [`${rbacGroup}/aggregate-to-${aggregateFrom}`]: 'true' } },
            ],
          },
        }
      : {}),
    rules,
  };
}

function binding(name: string, role: string, groups: string[]): KubeObject {
  return {
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: bootstrapLabels, annotations: autoupdate },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: rbacGroup, kind: 'Group', name: g })),
  };
}

const viewRules: PolicyRule[] = [
  rule(
    [''],
    [
      'configmaps',
      'endpoints',
      'pods',
      'pods/log',
      'pods/status',
      'serviceaccounts',
      'services',
      'services/status',
      'events',
      'namespaces/status',
    ],
    read,
  ),
  rule([''], ['namespaces'], read),
  rule(
    ['apps'],
    [
      'deployments',
      'deployments/scale',
      'deployments/status',
      'replicasets',
      'replicasets/scale',
      'replicasets/status',
    ],
    read,
  ),
  rule(['discovery.k8s.io'], ['endpointslices'], read),
  rule(['events.k8s.io'], ['events'], read),
];

const editRules: PolicyRule[] = [
  rule(
    [''],
    ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy'],
    read,
  ),
  rule([''], ['serviceaccounts'], ['impersonate']),
  rule([''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'], write),
  rule([''], ['pods/eviction'], ['create']),
  rule(
    [''],
    ['configmaps', 'events', 'secrets', 'serviceaccounts', 'services', 'services/proxy', 'endpoints'],
    write,
  ),
  rule([''], ['serviceaccounts/token'], ['create']),
  rule(
    ['apps'],
    ['deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale'],
    write,
  ),
  rule(['discovery.k8s.io'], ['endpointslices'], write),
];

const adminRules: PolicyRule[] = [
  rule(['authorization.k8s.io'], ['localsubjectaccessreviews'], ['create']),
  rule([rbacGroup], ['rolebindings', 'roles'], [...write, ...read]),
];

export function bootstrapRbac(): { clusterRoles: KubeObject[]; clusterRoleBindings: KubeObject[] } {
  const agg = (to: string) => ({ [`${rbacGroup}/aggregate-to-${to}`]: 'true' });
  const clusterRoles = [
    clusterRole('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    clusterRole('admin', [], {}, 'admin'),
    clusterRole('edit', [], agg('admin'), 'edit'),
    clusterRole('view', [], { ...agg('edit') }, 'view'),
    clusterRole('system:aggregate-to-admin', adminRules, agg('admin')),
    clusterRole('system:aggregate-to-edit', editRules, { ...agg('admin'), ...agg('edit') }),
    clusterRole('system:aggregate-to-view', viewRules, { ...agg('admin'), ...agg('edit'), ...agg('view') }),
    clusterRole('system:basic-user', [
      rule(['authentication.k8s.io'], ['selfsubjectreviews'], ['create']),
      rule(['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], ['create']),
    ]),
    clusterRole('system:discovery', [
      {
        nonResourceURLs: [
          '/api',
          '/api/*',
          '/apis',
          '/apis/*',
          '/healthz',
          '/livez',
          '/openapi',
          '/openapi/*',
          '/readyz',
          '/version',
          '/version/',
        ],
        verbs: ['get'],
      },
    ]),
    clusterRole('system:public-info-viewer', [
      { nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] },
    ]),
    clusterRole('system:service-account-issuer-discovery', [
      {
        nonResourceURLs: [
          '/.well-known/openid-configuration',
          '/.well-known/openid-configuration/',
          '/openid/v1/jwks',
          '/openid/v1/jwks/',
        ],
        verbs: ['get'],
      },
    ]),
    clusterRole('system:auth-delegator', [
      rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
      rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
    ]),
  ];
  const clusterRoleBindings = [
    binding('cluster-admin', 'cluster-admin', ['system:masters']),
    binding('system:basic-user', 'system:basic-user', ['system:authenticated']),
    binding('system:discovery', 'system:discovery', ['system:authenticated']),
    binding('system:public-info-viewer', 'system:public-info-viewer', [
      'system:authenticated',
      'system:unauthenticated',
    ]),
    binding('system:service-account-issuer-discovery', 'system:service-account-issuer-discovery', [
      'system:serviceaccounts',
    ]),
  ];
  return { clusterRoles, clusterRoleBindings };
}
