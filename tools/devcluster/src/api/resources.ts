// The resource types this API server serves, with what discovery and the REST paths need to know.

export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Plural lower-case name used in URLs. */
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  readonly categories?: readonly string[];
  /** Subresources served, e.g. 'status', 'portforward'. */
  readonly subresources: readonly string[];
  /** Create-only review kinds (TokenReview, SubjectAccessReview, ...): answered, never stored. */
  readonly virtual?: boolean;
}

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

function type(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  shortNames: readonly string[] = [],
  subresources: readonly string[] = [],
  categories?: readonly string[],
): ResourceType {
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames,
    verbs: allVerbs,
    subresources,
    ...(categories ? { categories } : {}),
  };
}

/** A create-only kind whose POST is answered and never stored (the review APIs). */
function review(group: string, kind: string, plural: string, namespaced = false): ResourceType {
  return { ...type(group, 'v1', kind, plural, namespaced), verbs: ['create'], virtual: true };
}

export const rbacGroup = 'rbac.authorization.k8s.io';

export const resourceTypes: readonly ResourceType[] = [
  type('', 'v1', 'Namespace', 'namespaces', false, ['ns'], ['status']),
  type('', 'v1', 'Node', 'nodes', false, ['no'], ['status']),
  type('', 'v1', 'Pod', 'pods', true, ['po'], ['status', 'portforward', 'log', 'exec', 'attach'], ['all']),
  type('', 'v1', 'Service', 'services', true, ['svc'], ['status'], ['all']),
  type('', 'v1', 'Endpoints', 'endpoints', true, ['ep']),
  type('', 'v1', 'ConfigMap', 'configmaps', true, ['cm']),
  type('', 'v1', 'Secret', 'secrets', true),
  type('', 'v1', 'ServiceAccount', 'serviceaccounts', true, ['sa'], ['token']),
  type('', 'v1', 'Event', 'events', true, ['ev']),
  type('apps', 'v1', 'Deployment', 'deployments', true, ['deploy'], ['status', 'scale'], ['all']),
  type('apps', 'v1', 'ReplicaSet', 'replicasets', true, ['rs'], ['status', 'scale'], ['all']),
  type(
    'admissionregistration.k8s.io',
    'v1',
    'MutatingWebhookConfiguration',
    'mutatingwebhookconfigurations',
    false,
  ),
  type(
    'admissionregistration.k8s.io',
    'v1',
    'ValidatingWebhookConfiguration',
    'validatingwebhookconfigurations',
    false,
  ),
  type('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', true),
  type('networking.k8s.io', 'v1', 'ServiceCIDR', 'servicecidrs', false, [], ['status']),
  type(rbacGroup, 'v1', 'ClusterRole', 'clusterroles', false),
  type(rbacGroup, 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  type(rbacGroup, 'v1', 'Role', 'roles', true),
  type(rbacGroup, 'v1', 'RoleBinding', 'rolebindings', true),
  review('authentication.k8s.io', 'TokenReview', 'tokenreviews'),
  review('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews'),
  review('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews'),
  review('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews'),
  review('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews'),
  review('authorization.k8s.io', 'LocalSubjectAccessReview', 'localsubjectaccessreviews', true),
];

export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** Key used by the store for a resource type, e.g. 'apps/deployments' or 'pods'. */
export function resourceKey(t: ResourceType): string {
  return t.group === '' ? t.plural : `${t.group}/${t.plural}`;
}

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return resourceTypes.find((t) => t.group === group && t.version === version && t.plural === plural);
}

export function findResourceByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return resourceTypes.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
}

export function byKey(key: string): ResourceType {
  const t = resourceTypes.find((r) => resourceKey(r) === key);
  if (!t) throw new Error(`unknown resource ${key}`);
  return t;
}

export function groups(): { name: string; versions: string[] }[] {
  const out = new Map<string, Set<string>>();
  for (const t of resourceTypes) {
    if (t.group === '') continue;
    const versions = out.get(t.group) ?? new Set<string>();
    versions.add(t.version);
    out.set(t.group, versions);
  }
  return [...out].map(([name, versions]) => ({ name, versions: [...versions] }));
}
