// Counters of caller authentication, on the manager's metrics registry.
import { Counter, type Registry } from 'prom-client';

export interface AuthMetrics {
  /** Reviews really made (cache hits are not counted): kind token|access|pod, result ok|refused|error. */
  readonly reviews: Counter<'kind' | 'result'>;
  /** Calls refused (enforced "true") or that would have been (permissive, enforced "false"), by rpc and code. */
  readonly refusals: Counter<'rpc' | 'code' | 'enforced'>;
  /** ArriveAsClient / ArriveAsAgent refused (or, permissive, that would have been). */
  readonly sessionsRefused: Counter<'kind' | 'enforced'>;
}

export function createAuthMetrics(registry: Registry): AuthMetrics {
  return {
    reviews: new Counter({
      name: 'traffic_manager_auth_reviews_total',
      help: 'TokenReviews (token), SubjectAccessReviews (access) and pod checks (pod) made, by result',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'traffic_manager_auth_refusals_total',
      help: 'Calls refused by caller authentication/authorisation (enforced=false: permissive mode let them through)',
      labelNames: ['rpc', 'code', 'enforced'],
      registers: [registry],
    }),
    sessionsRefused: new Counter({
      name: 'traffic_manager_sessions_refused_total',
      help: 'Sessions refused by caller authentication/authorisation, by kind (enforced=false: permissive)',
      labelNames: ['kind', 'enforced'],
      registers: [registry],
    }),
  };
}
