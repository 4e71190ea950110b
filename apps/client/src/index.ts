// Intercept handling, for e2e harnesses that drive the client's parts in-process.
export { InterceptController, fromManagerError, stateName } from './intercept/intercepts.js';
export { startDialResponder, type DialResponder } from './intercept/dial-responder.js';
export { GrpcManagerApi, type ManagerApi } from './manager/manager-api.js';
export { createManagerClient, createTunnelClient } from './manager/manager-api.js';
export type { ManagerTls } from './k8s/manager-tls.js';
