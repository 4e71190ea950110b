// The ClusterRole aggregation controller: a ClusterRole with an aggregationRule gets the rules of every
// ClusterRole its selectors match (so `kubectl get clusterrole admin -o yaml` shows them, as on a real
// cluster; the authorizer resolves aggregation itself and does not wait for this).
import { clone } from '../api/object.js';
import type { Authorizer } from '../api/rbac.js';
import type { Store } from '../api/store.js';
import { Reconciler } from './reconciler.js';

const key = 'rbac.authorization.k8s.io/clusterroles';

export function startRbacAggregationController(
  store: Store,
  authz: Authorizer,
  log: (msg: string) => void,
): Reconciler {
  return new Reconciler(
    store,
    'clusterrole-aggregation-controller',
    (e) => e.key === key,
    () => {
      for (const role of store.list(key)) {
        if (!role['aggregationRule']) continue;
        const rules = authz.clusterRoleRules(role.metadata.name ?? '');
        if (JSON.stringify(rules) === JSON.stringify(role['rules'])) continue;
        const next = clone(role);
        next['rules'] = rules;
        store.update(key, next);
      }
    },
    log,
  );
}
