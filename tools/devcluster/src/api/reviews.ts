// The create-only review APIs (authentication.k8s.io/v1 TokenReview and SelfSubjectReview;
// authorization.k8s.io/v1 SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview,
// SelfSubjectRulesReview) and the serviceaccounts/token subresource (TokenRequest).
import type { Authenticator, UserInfo } from './authn.js';
import { ApiError, badRequest, invalid, notFound } from './errors.js';
import { field, isRecord, str, type KubeObject } from './object.js';
import type { Authorizer, PolicyRule } from './rbac.js';
import { nonResource, type RequestAttributes } from './request-info.js';
import type { ResourceType } from './resources.js';
import { apiAudiences, type BoundObject, type TokenSigner } from './sa-tokens.js';
import type { Store } from './store.js';

type Rec = Record<string, unknown>;

export interface ReviewDeps {
  readonly store: Store;
  readonly authn: Authenticator;
  readonly authz: Authorizer;
  readonly signer: TokenSigner;
}

const rec = (v: unknown): Rec => (isRecord(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const timestamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function userJson(u: UserInfo): Rec {
  return {
    username: u.username,
    ...(u.uid ? { uid: u.uid } : {}),
    groups: [...u.groups],
    ...(u.extra && Object.keys(u.extra).length > 0 ? { extra: u.extra } : {}),
  };
}

function echo(t: ResourceType, body: Rec, status: Rec): Rec {
  const meta = rec(body['metadata']);
  return {
    kind: t.kind,
    apiVersion: `${t.group}/${t.version}`,
    metadata: { ...meta, creationTimestamp: null },
    ...(body['spec'] !== undefined ? { spec: body['spec'] } : {}),
    status,
  };
}

export class Reviews {
  constructor(private readonly d: ReviewDeps) {}

  /** POST of a review kind by `user`; `namespace` for LocalSubjectAccessReview. */
  create(t: ResourceType, namespace: string | undefined, input: unknown, user: UserInfo): Rec {
    const body = rec(input);
    const spec = rec(body['spec']);
    switch (t.kind) {
      case 'TokenReview':
        return echo(t, body, this.tokenReview(spec));
      case 'SelfSubjectReview':
        return {
          kind: t.kind,
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          status: { userInfo: userJson(user) },
        };
      case 'SelfSubjectAccessReview':
        return echo(t, body, this.access(user, spec, t.kind));
      case 'SubjectAccessReview':
      case 'LocalSubjectAccessReview': {
        const subject = subjectOf(spec, t.kind);
        if (t.kind === 'LocalSubjectAccessReview') {
          const ns = str(field(spec, 'resourceAttributes', 'namespace')) ?? '';
          if (ns !== namespace)
            throw invalid(t.kind, t.group, '', [
              {
                field: 'spec.resourceAttributes.namespace',
                message: `Invalid value: "${ns}": must match metadata.namespace`,
              },
            ]);
        }
        return echo(t, body, this.access(subject, spec, t.kind));
      }
      case 'SelfSubjectRulesReview': {
        const ns = str(spec['namespace']) ?? '';
        if (ns === '') throw badRequest('no namespace on request');
        return echo(t, body, rulesStatus(this.d.authz.rules(user, ns)));
      }
      default:
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
    }
  }

  private tokenReview(spec: Rec): Rec {
    const token = str(spec['token']) ?? '';
    if (token === '')
      throw invalid('TokenReview', 'authentication.k8s.io', '', [
        { field: 'spec.token', message: 'Required value' },
      ]);
    const wanted = strings(spec['audiences']);
    const r = this.d.authn.authenticateToken(token, wanted.length > 0 ? wanted : apiAudiences);
    if ('error' in r) return { user: {}, error: `[invalid bearer token, ${r.error}]` };
    return { authenticated: true, user: userJson(r.user), audiences: [...r.audiences] };
  }

  private access(user: UserInfo, spec: Rec, kind: string): Rec {
    const ra = spec['resourceAttributes'];
    const na = spec['nonResourceAttributes'];
    if (!isRecord(ra) && !isRecord(na))
      throw invalid(kind, 'authorization.k8s.io', '', [
        {
          field: 'spec.resourceAttributes',
          message:
            'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
        },
      ]);
    const a: RequestAttributes = isRecord(ra)
      ? {
          user,
          verb: str(ra['verb']) ?? '',
          resourceRequest: true,
          path: '',
          apiGroup: str(ra['group']) ?? '',
          apiVersion: str(ra['version']) ?? '',
          resource: str(ra['resource']) ?? '',
          subresource: str(ra['subresource']) ?? '',
          namespace: str(ra['namespace']) ?? '',
          name: str(ra['name']) ?? '',
        }
      : { user, ...nonResource(str(rec(na)['path']) ?? '', ''), verb: str(rec(na)['verb']) ?? '' };
    const d = this.d.authz.authorize(a);
    return { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) };
  }

  /** POST serviceaccounts/NAME/token: a projected token, audience-bound, expiring, optionally bound. */
  tokenRequest(namespace: string, name: string, input: unknown): Rec {
    const store = this.d.store;
    const sa = store.get('serviceaccounts', namespace, name);
    if (!sa) throw notFound('serviceaccounts', '', name);
    const body = rec(input);
    const spec = rec(body['spec']);
    const audiences = strings(spec['audiences']);
    const exp =
      spec['expirationSeconds'] === undefined || spec['expirationSeconds'] === null
        ? 3600
        : Number(spec['expirationSeconds']);
    if (!Number.isInteger(exp) || exp < 600)
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        {
          field: 'spec.expirationSeconds',
          message: `Invalid value: ${String(spec['expirationSeconds'])}: may not specify a duration less than 10 minutes`,
        },
      ]);
    if (exp > 2 ** 32)
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        {
          field: 'spec.expirationSeconds',
          message: `Invalid value: ${exp}: may not specify a duration larger than 2^32 seconds`,
        },
      ]);
    const ref = spec['boundObjectRef'];
    let bound: BoundObject | undefined;
    let node: { name: string; uid: string } | undefined;
    let boundRef: Rec | null = null;
    if (isRecord(ref)) {
      const kind = str(ref['kind']) ?? '';
      const objName = str(ref['name']) ?? '';
      if (kind !== 'Pod' && kind !== 'Secret')
        throw badRequest(`cannot bind token to object of type ${kind || '""'} (supported: Pod, Secret)`);
      const obj = store.get(kind === 'Pod' ? 'pods' : 'secrets', namespace, objName);
      if (!obj) throw notFound(kind === 'Pod' ? 'pods' : 'secrets', '', objName);
      const uid = str(ref['uid']);
      if (uid && uid !== obj.metadata.uid)
        throw new ApiError(
          409,
          'Conflict',
          `the UID in the bound object reference (${uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      if (kind === 'Pod') {
        const podSa = str(field(obj, 'spec', 'serviceAccountName')) ?? 'default';
        if (podSa !== name)
          throw badRequest(
            `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`,
          );
        node = this.nodeOf(obj);
      }
      bound = { kind, name: objName, uid: obj.metadata.uid ?? '' };
      boundRef = { kind, apiVersion: 'v1', name: objName, uid: bound.uid };
    }
    const { token, claims } = this.d.signer.mintProjected({
      namespace,
      serviceAccount: { name, uid: sa.metadata.uid ?? '' },
      audiences,
      expirationSeconds: exp,
      ...(bound ? { bound } : {}),
      ...(node ? { node } : {}),
    });
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences: claims.aud, expirationSeconds: exp, boundObjectRef: boundRef },
      status: { token, expirationTimestamp: timestamp(claims.exp * 1000) },
    };
  }

  private nodeOf(pod: KubeObject): { name: string; uid: string } | undefined {
    const nodeName = str(field(pod, 'spec', 'nodeName'));
    const node = nodeName ? this.d.store.get('nodes', undefined, nodeName) : undefined;
    return node && nodeName ? { name: nodeName, uid: node.metadata.uid ?? '' } : undefined;
  }
}

function subjectOf(spec: Rec, kind: string): UserInfo {
  const username = str(spec['user']) ?? '';
  const groups = strings(spec['groups']);
  if (username === '' && groups.length === 0)
    throw invalid(kind, 'authorization.k8s.io', '', [
      { field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' },
    ]);
  const extra = rec(spec['extra']);
  const uid = str(spec['uid']);
  return {
    username,
    groups,
    ...(uid ? { uid } : {}),
    extra: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, strings(v)])),
  };
}

function rulesStatus(rules: PolicyRule[]): Rec {
  const resourceRules = rules
    .filter((r) => (r.nonResourceURLs ?? []).length === 0)
    .map((r) => ({
      verbs: r.verbs,
      apiGroups: r.apiGroups ?? [],
      resources: r.resources ?? [],
      ...(r.resourceNames && r.resourceNames.length > 0 ? { resourceNames: r.resourceNames } : {}),
    }));
  const nonResourceRules = rules
    .filter((r) => (r.nonResourceURLs ?? []).length > 0)
    .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs ?? [] }));
  return { resourceRules, nonResourceRules, incomplete: false };
}
