// What the manager does around intercept records that needs the cluster: before an intercept is
// recorded, make sure its workload runs agents (enable + roll once); for `list`, name the namespace's
// workloads even when none of their pods has an agent yet.
import type { manager } from '@telepresence/rpc';
import type { Logger } from 'pino';

import type { ClientSession } from '../sessions/session-registry.js';
import { status } from '@grpc/grpc-js';

import { StatusError } from '../grpc/status-error.js';
import { ensureAgentEnabled } from './agent-enabler.js';
import type { InjectorApi } from './injector-api.js';

export interface InterceptHooks {
  /** Throws a StatusError with a clear message when the intercept cannot be made. */
  beforeCreate(client: ClientSession, spec: manager.InterceptSpec): Promise<void>;
  /** Names of the workloads in a namespace. */
  workloads(namespace: string): Promise<string[]>;
}

/** How long CreateIntercept waits for a starting injector before it refuses with UNAVAILABLE. */
const INJECTOR_READY_WAIT_MS = 15_000;

export function clusterInterceptHooks(
  api: InjectorApi,
  log: Logger,
  injectorReady: (timeoutMs: number) => Promise<boolean> = () => Promise.resolve(true),
): InterceptHooks {
  return {
    async beforeCreate(client, spec) {
      if (spec.localOnly) return;
      const namespace = spec.namespace === '' ? client.client.namespace : spec.namespace;
      if (!(await injectorReady(INJECTOR_READY_WAIT_MS)))
        throw new StatusError(
          status.UNAVAILABLE,
          'the agent injector is not ready yet (its CA is not in the MutatingWebhookConfiguration); try again in a moment',
        );
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
