// What the manager does around intercept records that needs the cluster: before an intercept is
// recorded, make sure its workload runs agents (enable + roll once); for `list`, name the namespace's
// workloads even when none of their pods has an agent yet.
import type { manager } from '@telepresence/rpc';
import type { Logger } from 'pino';

import type { ClientSession } from '../sessions/session-registry.js';
import { ensureAgentEnabled } from './agent-enabler.js';
import type { InjectorApi } from './injector-api.js';

export interface InterceptHooks {
  /** Throws a StatusError with a clear message when the intercept cannot be made. */
  beforeCreate(client: ClientSession, spec: manager.InterceptSpec): Promise<void>;
  /** Names of the workloads in a namespace. */
  workloads(namespace: string): Promise<string[]>;
}

export function clusterInterceptHooks(api: InjectorApi, log: Logger): InterceptHooks {
  return {
    async beforeCreate(client, spec) {
      if (spec.localOnly) return;
      const namespace = spec.namespace === '' ? client.client.namespace : spec.namespace;
      const result = await ensureAgentEnabled(api, namespace, spec.workload);
      if (result === 'enabled')
        log.info({ workload: spec.workload, namespace }, 'traffic-agent enabled; the workload rolls once');
    },
    async workloads(namespace) {
      return (await api.listDeployments(namespace))
        .map((d) => d.metadata?.name ?? '')
        .filter((n) => n !== '');
    },
  };
}
