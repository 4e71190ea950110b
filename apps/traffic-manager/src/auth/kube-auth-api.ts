// AuthApi on @kubernetes/client-node: TokenReview, SubjectAccessReview and a pod lookup, with the
// manager's own service account (the chart grants tokenreviews and subjectaccessreviews create).
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

import { KubeApiError } from '../k8s/cluster-api.js';
import type { AuthApi } from './auth-api.js';

function apiError(e: unknown, what: string): unknown {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'number') return e;
  const body = (e as { body?: unknown }).body;
  let message = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the raw body
  }
  return new KubeApiError(code, `${what}: ${message} (HTTP ${code})`, { cause: e });
}

export function kubeAuthApi(kc: KubeConfig): AuthApi {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async reviewToken(token, audiences) {
      let r;
      try {
        r = await authn.createTokenReview({ body: { spec: { token, audiences: [...audiences] } } });
      } catch (e) {
        throw apiError(e, 'create tokenreviews.authentication.k8s.io');
      }
      const s = r.status;
      if (s?.authenticated !== true || s.user?.username === undefined)
        return { authenticated: false, error: s?.error ?? 'the token was not accepted' };
      return {
        authenticated: true,
        identity: {
          username: s.user.username,
          uid: s.user.uid ?? '',
          groups: s.user.groups ?? [],
          extra: s.user.extra ?? {},
          audiences: s.audiences ?? [],
        },
      };
    },
    async reviewAccess(identity, a) {
      let r;
      try {
        r = await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: identity.username,
              ...(identity.uid ? { uid: identity.uid } : {}),
              groups: [...identity.groups],
              extra: Object.fromEntries(Object.entries(identity.extra).map(([k, v]) => [k, [...v]])),
              resourceAttributes: {
                verb: a.verb,
                group: a.group,
                resource: a.resource,
                namespace: a.namespace,
                ...(a.subresource ? { subresource: a.subresource } : {}),
                ...(a.name ? { name: a.name } : {}),
              },
            },
          },
        });
      } catch (e) {
        throw apiError(e, 'create subjectaccessreviews.authorization.k8s.io');
      }
      return { allowed: r.status?.allowed === true, reason: r.status?.reason ?? '' };
    },
    async pod(namespace, name) {
      let list;
      try {
        // list, not get: the chart's rule for pods is list+watch (subnet discovery), nothing more is needed.
        list = await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` });
      } catch (e) {
        throw apiError(e, `list pods in namespace ${namespace}`);
      }
      const pod = list.items.find((p) => p.metadata?.name === name);
      if (pod === undefined) return undefined;
      return {
        uid: pod.metadata?.uid ?? '',
        containerNames: (pod.spec?.containers ?? []).map((c) => c.name),
      };
    },
  };
}

/**
 * Writes the API CA bundle into the chart's ConfigMap (auth/api-tls.ts CA_CONFIGMAP): get and update on
 * that one object, which the chart creates (empty) so the manager needs no create right.
 */
export function publishCaConfigMap(
  kc: KubeConfig,
  namespace: string,
  name: string,
  key: string,
): (pem: string) => Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  return async (pem) => {
    try {
      const cm = await core.readNamespacedConfigMap({ name, namespace });
      if (cm.data?.[key] === pem) return;
      await core.replaceNamespacedConfigMap({
        name,
        namespace,
        body: { ...cm, data: { ...cm.data, [key]: pem } },
      });
    } catch (e) {
      throw apiError(e, `update configmap ${namespace}/${name}`);
    }
  };
}
