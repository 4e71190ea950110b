// Enabling the agent for a workload: the manager annotates the Deployment's pod template once (which
// rolls the workload); the injector then adds the agent to the new pods. Later intercepts of the same
// workload find the annotation in place and change nothing, so the workload rolls only once.
import { status } from '@grpc/grpc-js';

import { StatusError } from '../grpc/status-error.js';
import { ENABLE_ANNOTATION, WORKLOAD_ANNOTATION } from './agent-patch.js';
import type { InjectorApi } from './injector-api.js';

export type EnableResult = 'already-enabled' | 'enabled';

export async function ensureAgentEnabled(
  api: InjectorApi,
  namespace: string,
  workload: string,
): Promise<EnableResult> {
  const deployment = await api.getDeployment(namespace, workload);
  if (deployment === undefined)
    throw new StatusError(
      status.NOT_FOUND,
      `no Deployment "${workload}" in namespace "${namespace}"; see \`telepresence list\` for the workloads you can intercept`,
    );
  const annotations = deployment.spec?.template.metadata?.annotations ?? {};
  if (annotations[ENABLE_ANNOTATION] === 'enabled' && annotations[WORKLOAD_ANNOTATION] === workload)
    return 'already-enabled';
  await api.annotatePodTemplate(namespace, workload, {
    [ENABLE_ANNOTATION]: 'enabled',
    [WORKLOAD_ANNOTATION]: workload,
  });
  return 'enabled';
}
