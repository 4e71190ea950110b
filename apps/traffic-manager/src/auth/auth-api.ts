// The Kubernetes calls authentication and authorisation need, behind an interface so the authorizer is
// tested with fakes; kube-auth-api.ts implements it with @kubernetes/client-node.
import type { Identity } from './identity.js';

export type TokenReviewResult =
  | { readonly authenticated: true; readonly identity: Identity }
  | { readonly authenticated: false; readonly error: string };

/** A SubjectAccessReview's resourceAttributes. */
export interface ResourceAttributes {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace: string;
  readonly name?: string;
}

export interface AccessDecision {
  readonly allowed: boolean;
  /** The authorizer's reason (RBAC: which binding allowed it), for logs. */
  readonly reason: string;
}

/** The pod facts an agent's arrival is checked against. */
export interface PodFacts {
  readonly uid: string;
  readonly containerNames: readonly string[];
}

export interface AuthApi {
  /** TokenReview with these audiences; rejects only when the review itself could not be made. */
  reviewToken(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
  /** SubjectAccessReview for the identity (user, uid, groups, extra). */
  reviewAccess(identity: Identity, attributes: ResourceAttributes): Promise<AccessDecision>;
  /** The pod, or undefined when it does not exist. */
  pod(namespace: string, name: string): Promise<PodFacts | undefined>;
}

/** "create pods/portforward in namespace ambassador" */
export function describeAttributes(a: ResourceAttributes): string {
  const resource = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}`;
  return `${a.verb} ${resource}${a.name ? ` "${a.name}"` : ''} in namespace "${a.namespace}"`;
}
