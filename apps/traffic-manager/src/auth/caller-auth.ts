// Who may do what on the Manager API. Every call but Version carries a bearer token (metadata
// "authorization: Bearer ..."), checked with TokenReview; what the identity may do is asked with
// SubjectAccessReview; sessions are bound to the identity that created them. Reviews are cached briefly
// (ReviewCache), so flows pay nothing and a new session pays at most one round trip per review kind.
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { StatusError } from '../grpc/status-error.js';
import { AGENT_CONTAINER } from '../injector/agent-patch.js';
import { KubeApiError } from '../k8s/cluster-api.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { Clock } from '../util/clock.js';
import {
  describeAttributes,
  type AccessDecision,
  type AuthApi,
  type ResourceAttributes,
  type TokenReviewResult,
} from './auth-api.js';
import { AGENT_AUDIENCE, CLIENT_AUDIENCE, type AuthMode } from './auth-config.js';
import type { AuthMetrics } from './auth-metrics.js';
import {
  boundPod,
  describeIdentity,
  identityKey,
  serviceAccountNamespace,
  type Identity,
} from './identity.js';
import { ReviewCache } from './review-cache.js';

/** A refusal: UNAUTHENTICATED (no or bad token) or PERMISSION_DENIED, with what is missing. */
export class AuthRefusal extends StatusError {}

/** What permission a call needs, and why (the why goes into the refusal message). */
export interface Permission {
  readonly attributes: ResourceAttributes;
  readonly needed: string;
}

/** Connecting (a client session, and every call of one): create pods/portforward where the manager runs. */
export function connectPermission(managerNamespace: string): Permission {
  return {
    attributes: {
      verb: 'create',
      group: '',
      resource: 'pods',
      subresource: 'portforward',
      namespace: managerNamespace,
    },
    needed: 'to connect to the traffic-manager',
  };
}

/** Intercepting a workload: update on it (an intercept redirects its traffic and changes its pods). */
export function interceptPermission(namespace: string, workload: string): Permission {
  return {
    attributes: { verb: 'update', group: 'apps', resource: 'deployments', namespace, name: workload },
    needed: `to intercept ${namespace}/${workload}`,
  };
}

export interface CallAuthOptions {
  readonly api: AuthApi;
  readonly mode: Exclude<AuthMode, 'disabled'>;
  readonly reviewTtlMs: number;
  /** The API server's audiences: a client's own kubeconfig token is valid for them. */
  readonly apiAudiences: readonly string[];
  readonly sessions: SessionRegistry;
  readonly metrics: AuthMetrics;
  readonly log: Logger;
  readonly clock: Clock;
}

export class CallAuth {
  private readonly tokens: ReviewCache<TokenReviewResult>;
  private readonly access: ReviewCache<AccessDecision>;
  private readonly owners = new Map<string, string>();
  private readonly audiences: readonly string[];
  readonly log: Logger;

  constructor(readonly options: CallAuthOptions) {
    this.log = options.log.child({ component: 'auth' });
    this.tokens = new ReviewCache(options.clock, options.reviewTtlMs);
    this.access = new ReviewCache(options.clock, options.reviewTtlMs);
    this.audiences = [...new Set([AGENT_AUDIENCE, CLIENT_AUDIENCE, ...options.apiAudiences])];
    options.sessions.onChange((event, session) => {
      if (event === 'ended') this.owners.delete(session.id);
    });
  }

  get mode(): Exclude<AuthMode, 'disabled'> {
    return this.options.mode;
  }

  /** The identity behind a bearer token (the "authorization" metadata value), or UNAUTHENTICATED. */
  async authenticate(authorization: string | undefined): Promise<Identity> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (m === null)
      throw new AuthRefusal(
        status.UNAUTHENTICATED,
        'the call carries no bearer token ("authorization: Bearer ..." metadata): the traffic-manager ' +
          'authenticates every caller with a Kubernetes token; use a telepresence client and agents of ' +
          'this version (or ask the cluster admin about the chart value auth.mode)',
      );
    const token = m[1] as string;
    const result = await this.tokens.get(token, () =>
      this.counted('token', this.options.api.reviewToken(token, this.audiences), (r) => r.authenticated),
    );
    if (!result.authenticated)
      throw new AuthRefusal(
        status.UNAUTHENTICATED,
        `the Kubernetes API server did not accept the caller's token (TokenReview): ${result.error}`,
      );
    return result.identity;
  }

  /** Resolves when the identity has the permission (SubjectAccessReview), else PERMISSION_DENIED. */
  async require(identity: Identity, p: Permission): Promise<void> {
    const a = p.attributes;
    const key = `${identityKey(identity)}\u0000${identity.groups.join(',')}\u0000${a.verb}/${a.group}/${a.resource}/${a.subresource ?? ''}/${a.namespace}/${a.name ?? ''}`;
    const d = await this.access.get(key, () =>
      this.counted('access', this.options.api.reviewAccess(identity, a), (r) => r.allowed),
    );
    if (!d.allowed)
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `${describeIdentity(identity)} may not ${describeAttributes(a)} (needed ${p.needed}); ask the cluster admin for this permission (see the client permissions in charts/telepresence/README.md)`,
      );
  }

  /**
   * An agent proves its pod: a projected token with the agent audience, bound to the pod it claims to be,
   * and that pod (same uid) runs the injected traffic-agent container.
   */
  async admitAgent(identity: Identity, claimed: { namespace: string; podName: string }): Promise<void> {
    const pod = boundPod(identity);
    const saNamespace = serviceAccountNamespace(identity);
    if (!identity.audiences.includes(AGENT_AUDIENCE) || pod === undefined || saNamespace === undefined)
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `${describeIdentity(identity)} may not arrive as an agent: an agent authenticates with its pod's projected service-account token with audience "${AGENT_AUDIENCE}" (the agent-injector mounts it)`,
      );
    if (pod.name !== claimed.podName || saNamespace !== claimed.namespace)
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `the agent's token is bound to pod ${saNamespace}/${pod.name}, not to pod ${claimed.namespace}/${claimed.podName} it claims to be`,
      );
    const facts = await this.counted('pod', this.options.api.pod(claimed.namespace, claimed.podName), (f) =>
      Boolean(f?.uid === pod.uid && f.containerNames.includes(AGENT_CONTAINER)),
    );
    if (facts === undefined || facts.uid !== pod.uid)
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `pod ${claimed.namespace}/${claimed.podName} (uid ${pod.uid}) the agent's token is bound to does not exist any more`,
      );
    if (!facts.containerNames.includes(AGENT_CONTAINER))
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `pod ${claimed.namespace}/${claimed.podName} runs no ${AGENT_CONTAINER} container: only injected agents may arrive as agents`,
      );
  }

  /** Binds a new session to the identity that created it. */
  bind(sessionId: string, identity: Identity): void {
    this.owners.set(sessionId, identityKey(identity));
  }

  /** PERMISSION_DENIED when the session belongs to another identity (unknown sessions pass: NOT_FOUND follows). */
  checkOwner(sessionId: string, identity: Identity): void {
    const owner = this.owners.get(sessionId);
    if (owner !== undefined && owner !== identityKey(identity))
      throw new AuthRefusal(
        status.PERMISSION_DENIED,
        `session "${sessionId}" belongs to another identity than ${describeIdentity(identity)}: a session is used only by the identity that created it`,
      );
  }

  /** Counts a review really made, by result (ok/refused) or error. */
  private counted<T>(
    kind: 'token' | 'access' | 'pod',
    review: Promise<T>,
    ok: (r: T) => boolean,
  ): Promise<T> {
    return review.then(
      (r) => {
        this.options.metrics.reviews.inc({ kind, result: ok(r) ? 'ok' : 'refused' });
        return r;
      },
      (e: unknown) => {
        this.options.metrics.reviews.inc({ kind, result: 'error' });
        if (e instanceof KubeApiError && e.statusCode === 403)
          this.log.error(
            { err: e.message },
            'cannot review callers: the traffic-manager lacks a Kubernetes permission',
          );
        throw e;
      },
    );
  }
}
