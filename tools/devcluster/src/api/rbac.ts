// The RBAC authorizer (rbac.authorization.k8s.io/v1) over the store's Roles, ClusterRoles and bindings,
// with the privileged group system:masters allowed everything, as in a kube-apiserver
// (--authorization-mode=RBAC). Also the rule listing behind SelfSubjectRulesReview.
import type { UserInfo } from './authn.js';
import { ApiError } from './errors.js';
import { labelSelectorMatches } from './label-selector.js';
import { isRecord, str, type KubeObject } from './object.js';
import type { RequestAttributes } from './request-info.js';
import type { Store } from './store.js';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Decision {
  readonly allowed: boolean;
  readonly reason: string;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export function rulesOf(o: KubeObject | undefined): PolicyRule[] {
  const rules = o?.['rules'];
  if (!Array.isArray(rules)) return [];
  return rules.filter(isRecord).map((r) => {
    const out: PolicyRule = { verbs: strings(r['verbs']) };
    for (const k of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) {
      const v = strings(r[k]);
      if (v.length > 0 || (k === 'apiGroups' && Array.isArray(r[k]))) out[k] = v;
    }
    return out;
  });
}

export function ruleAllows(a: Omit<RequestAttributes, 'user'>, rule: PolicyRule): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === '*' || x === v);
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) {
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`),
  );
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

function subjectMatches(subject: unknown, user: UserInfo, bindingNamespace: string): boolean {
  if (!isRecord(subject)) return false;
  const name = str(subject['name']) ?? '';
  switch (subject['kind']) {
    case 'User':
      return name === user.username;
    case 'Group':
      return user.groups.includes(name);
    case 'ServiceAccount': {
      const ns = str(subject['namespace']) || bindingNamespace;
      return user.username === `system:serviceaccount:${ns}:${name}`;
    }
    default:
      return false;
  }
}

interface Grant {
  readonly binding: KubeObject;
  readonly rules: PolicyRule[];
}

export class Authorizer {
  constructor(private readonly store: Store) {}

  /** The rules of a ClusterRole, with those of the roles its aggregationRule selects. */
  clusterRoleRules(name: string): PolicyRule[] {
    const role = this.store.get('rbac.authorization.k8s.io/clusterroles', undefined, name);
    if (!role) return [];
    const agg = role['aggregationRule'];
    if (!isRecord(agg) || !Array.isArray(agg['clusterRoleSelectors'])) return rulesOf(role);
    const selectors = agg['clusterRoleSelectors'] as unknown[];
    const out: PolicyRule[] = [];
    for (const cr of this.store.list('rbac.authorization.k8s.io/clusterroles')) {
      if (cr.metadata.name === name) continue;
      if (selectors.some((s) => labelSelectorMatches(s, cr.metadata.labels ?? {}))) out.push(...rulesOf(cr));
    }
    return out;
  }

  /** The bindings that apply to this user in this namespace ('' = cluster scope), with their rules. */
  private grants(user: UserInfo, namespace: string): Grant[] {
    const out: Grant[] = [];
    for (const b of this.store.list('rbac.authorization.k8s.io/clusterrolebindings')) {
      const subjects = Array.isArray(b['subjects']) ? (b['subjects'] as unknown[]) : [];
      if (!subjects.some((s) => subjectMatches(s, user, ''))) continue;
      const ref = isRecord(b['roleRef']) ? b['roleRef'] : {};
      out.push({
        binding: b,
        rules: ref['kind'] === 'ClusterRole' ? this.clusterRoleRules(String(ref['name'])) : [],
      });
    }
    if (namespace === '') return out;
    for (const b of this.store.list('rbac.authorization.k8s.io/rolebindings', namespace)) {
      const subjects = Array.isArray(b['subjects']) ? (b['subjects'] as unknown[]) : [];
      if (!subjects.some((s) => subjectMatches(s, user, namespace))) continue;
      const ref = isRecord(b['roleRef']) ? b['roleRef'] : {};
      const name = String(ref['name']);
      const rules =
        ref['kind'] === 'Role'
          ? rulesOf(this.store.get('rbac.authorization.k8s.io/roles', namespace, name))
          : this.clusterRoleRules(name);
      // Non-resource URLs are cluster-scoped: a RoleBinding never grants them.
      out.push({ binding: b, rules: rules.filter((r) => (r.nonResourceURLs ?? []).length === 0) });
    }
    return out;
  }

  authorize(a: RequestAttributes): Decision {
    if (a.user.groups.includes('system:masters')) return { allowed: true, reason: '' };
    for (const g of this.grants(a.user, a.resourceRequest ? a.namespace : '')) {
      if (g.rules.some((r) => ruleAllows(a, r))) {
        const b = g.binding;
        const ref = isRecord(b['roleRef']) ? b['roleRef'] : {};
        const where = b.metadata.namespace ? ` in ${b.metadata.namespace}` : '';
        return {
          allowed: true,
          reason: `RBAC: allowed by ${String(b.kind ?? (b.metadata.namespace ? 'RoleBinding' : 'ClusterRoleBinding'))} "${b.metadata.name ?? ''}"${where} of ${String(ref['kind'])} "${String(ref['name'])}" to ${describeUser(a.user)}`,
        };
      }
    }
    return { allowed: false, reason: '' };
  }

  /** Every rule that applies to the user in a namespace (SelfSubjectRulesReview). */
  rules(user: UserInfo, namespace: string): PolicyRule[] {
    return this.grants(user, namespace).flatMap((g) => g.rules);
  }
}

function describeUser(u: UserInfo): string {
  const sa = /^system:serviceaccount:([^:]+):(.+)$/.exec(u.username);
  return sa ? `ServiceAccount "${sa[2] ?? ''}/${sa[1] ?? ''}"` : `User "${u.username}"`;
}

/** The apiserver's 403 for a denied request (k8s.io/apiserver responsewriters.ForbiddenStatus). */
export function forbidden(a: RequestAttributes, reason = ''): ApiError {
  const suffix = reason ? `: ${reason}` : '';
  if (!a.resourceRequest) {
    return new ApiError(
      403,
      'Forbidden',
      `forbidden: User "${a.user.username}" cannot ${a.verb} path "${a.path}"${suffix}`,
      {},
    );
  }
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${a.user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}${suffix}`;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const message = a.name
    ? `${qualified} "${a.name}" is forbidden: ${why}`
    : `${qualified} is forbidden: ${why}`;
  return new ApiError(403, 'Forbidden', message, {
    ...(a.name ? { name: a.name } : {}),
    group: a.apiGroup,
    kind: a.resource,
  });
}
