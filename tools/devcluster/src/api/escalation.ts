// RBAC escalation prevention, as the apiserver's RBAC storage enforces it: a Role/ClusterRole may grant
// only permissions its author holds (or the author has `escalate` on it), and a binding may reference
// only a role whose permissions its author holds (or the author has `bind` on that role).
import { ApiError, notFound } from './errors.js';
import { isRecord, str, type KubeObject } from './object.js';
import { rulesOf, type Authorizer, type PolicyRule } from './rbac.js';
import { rbacGroup, type ResourceType } from './resources.js';
import type { Store } from './store.js';

export interface Author {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
}

const list = (v: string[] | undefined, empty: string[]): string[] => (v && v.length > 0 ? v : empty);

function covered(authz: Authorizer, user: Author, rule: PolicyRule, namespace: string): boolean {
  const u = { username: user.username, groups: user.groups ?? [] };
  const base = {
    user: u,
    apiVersion: '',
    namespace: '',
    name: '',
    apiGroup: '',
    resource: '',
    subresource: '',
    path: '',
  };
  if ((rule.nonResourceURLs ?? []).length > 0) {
    return (rule.nonResourceURLs ?? []).every((path) =>
      rule.verbs.every((verb) => authz.authorize({ ...base, verb, resourceRequest: false, path }).allowed),
    );
  }
  for (const verb of rule.verbs)
    for (const apiGroup of list(rule.apiGroups, ['']))
      for (const res of list(rule.resources, []))
        for (const name of list(rule.resourceNames, [''])) {
          const [resource = '', subresource = ''] = res.split('/');
          const a = {
            ...base,
            verb,
            resourceRequest: true,
            apiGroup,
            resource,
            subresource,
            namespace,
            name,
          };
          if (!authz.authorize(a).allowed) return false;
        }
  return true;
}

function format(r: PolicyRule): string {
  const q = (l: string[] | undefined) => `[${(l ?? []).map((x) => JSON.stringify(x)).join(' ')}]`;
  const parts = [
    ...((r.apiGroups ?? []).length || !(r.nonResourceURLs ?? []).length
      ? [`APIGroups:${q(r.apiGroups)}`]
      : []),
    ...((r.resources ?? []).length ? [`Resources:${q(r.resources)}`] : []),
    ...((r.resourceNames ?? []).length ? [`ResourceNames:${q(r.resourceNames)}`] : []),
    ...((r.nonResourceURLs ?? []).length ? [`NonResourceURLs:${q(r.nonResourceURLs)}`] : []),
    `Verbs:${q(r.verbs)}`,
  ];
  return `{${parts.join(', ')}}`;
}

/** Throws 403 when `author` may not write this RBAC object. Other kinds pass. */
export function checkEscalation(
  authz: Authorizer,
  store: Store,
  t: ResourceType,
  author: Author,
  obj: KubeObject,
): void {
  if (t.group !== rbacGroup || (author.groups ?? []).includes('system:masters')) return;
  const namespace = t.namespaced ? (obj.metadata.namespace ?? '') : '';
  const name = obj.metadata.name ?? '';
  const may = (verb: string, resource: string, objName: string, ns: string) =>
    authz.authorize({
      user: { username: author.username, groups: author.groups ?? [] },
      verb,
      resourceRequest: true,
      path: '',
      apiGroup: rbacGroup,
      apiVersion: 'v1',
      resource,
      subresource: '',
      namespace: ns,
      name: objName,
    }).allowed;
  let rules: PolicyRule[];
  if (t.plural === 'roles' || t.plural === 'clusterroles') {
    if (may('escalate', t.plural, name, namespace)) return;
    rules = rulesOf(obj);
  } else {
    const ref = isRecord(obj['roleRef']) ? obj['roleRef'] : {};
    const refName = str(ref['name']) ?? '';
    const isRole = ref['kind'] === 'Role';
    if (may('bind', isRole ? 'roles' : 'clusterroles', refName, isRole ? namespace : '')) return;
    if (isRole) {
      const role = store.get(`${rbacGroup}/roles`, namespace, refName);
      if (!role) throw notFound('roles', rbacGroup, refName);
      rules = rulesOf(role);
    } else {
      if (!store.get(`${rbacGroup}/clusterroles`, undefined, refName))
        throw notFound('clusterroles', rbacGroup, refName);
      rules = authz.clusterRoleRules(refName);
    }
  }
  const missing = rules.filter((r) => !covered(authz, author, r, namespace));
  if (missing.length === 0) return;
  const groups = (author.groups ?? []).map((g) => JSON.stringify(g)).join(' ');
  throw new ApiError(
    403,
    'Forbidden',
    `${t.plural}.${rbacGroup} "${name}" is forbidden: user "${author.username}" (groups=[${groups}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(format).join('\n')}`,
    { name, group: rbacGroup, kind: t.plural },
  );
}
