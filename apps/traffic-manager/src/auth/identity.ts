// Who a caller is, as the API server's TokenReview says (never as the caller says).

/** user.extra keys the API server sets for a token bound to a pod (projected service-account tokens). */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

export interface Identity {
  readonly username: string;
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
  /** The audiences the token was found valid for (a subset of those the manager asked for). */
  readonly audiences: readonly string[];
}

/** The pod a token is bound to (a projected service-account token mounted by the kubelet), if any. */
export function boundPod(id: Identity): { name: string; uid: string } | undefined {
  const name = id.extra[POD_NAME_EXTRA]?.[0];
  const uid = id.extra[POD_UID_EXTRA]?.[0];
  return name === undefined || uid === undefined ? undefined : { name, uid };
}

/** The service account's namespace for a "system:serviceaccount:NS:NAME" user, else undefined. */
export function serviceAccountNamespace(id: Identity): string | undefined {
  const m = /^system:serviceaccount:([^:]+):[^:]+$/.exec(id.username);
  return m?.[1];
}

/**
 * What a session is bound to: the user (with its uid when the authenticator gives one, so a deleted and
 * re-created account is another identity), and for a pod-bound token also the pod's uid.
 */
export function identityKey(id: Identity): string {
  const pod = boundPod(id);
  return `${id.username}\u0000${id.uid}${pod === undefined ? '' : `\u0000pod:${pod.uid}`}`;
}

/** For messages and logs: `user "dev"` or `pod default/web-1 (system:serviceaccount:default:default)`. */
export function describeIdentity(id: Identity): string {
  const pod = boundPod(id);
  const ns = serviceAccountNamespace(id);
  if (pod !== undefined && ns !== undefined) return `pod ${ns}/${pod.name} (${id.username})`;
  return `user "${id.username}"`;
}
