import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import { KubeApiError } from '../k8s/cluster-api.js';
import { SessionEndedError, UnknownSessionError } from '../sessions/session-registry.js';

/** An error meant for the caller, with the gRPC status it travels as. */
export class StatusError extends Error {
  override readonly name = 'StatusError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** Maps any error to the ServiceError grpc-js sends: known errors keep their meaning, others are INTERNAL. */
export function toServiceError(e: unknown): Partial<ServiceError> {
  let code: status;
  let details: string;
  if (e instanceof StatusError) {
    code = e.code;
    details = e.message;
  } else if (e instanceof UnknownSessionError) {
    code = status.NOT_FOUND;
    details = e.message;
  } else if (e instanceof SessionEndedError) {
    code = e.reason === 'shutdown' ? status.UNAVAILABLE : status.NOT_FOUND;
    details = e.message;
  } else if (e instanceof KubeApiError && e.statusCode === 403) {
    // The manager's own RBAC is short of what this call needs: name it, it is an installation problem.
    code = status.PERMISSION_DENIED;
    details = `the traffic-manager lacks a Kubernetes permission (see the RBAC rules in charts/telepresence/README.md): ${e.message}`;
  } else {
    code = status.INTERNAL;
    details = `internal error: ${e instanceof Error ? e.message : String(e)}`;
  }
  return { code, details, metadata: new Metadata() };
}
