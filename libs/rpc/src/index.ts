// Generated protocol types and grpc-js service definitions, grouped per proto package.
export * as common from './gen/telepresence/common/v1/common.js';
export * as manager from './gen/telepresence/manager/v1/manager.js';
export * as agent from './gen/telepresence/agent/v1/agent.js';
export * as daemon from './gen/telepresence/daemon/v1/daemon.js';

export type {
  DialRequest,
  DNSAnswer,
  DNSQuestion,
  IPNet,
  SessionInfo,
  TunnelMessage,
  TunnelMetrics,
  VersionInfo,
} from './gen/telepresence/common/v1/common.js';
export { ManagerClient, ManagerService, type ManagerServer } from './gen/telepresence/manager/v1/manager.js';
export { AgentClient, AgentService, type AgentServer } from './gen/telepresence/agent/v1/agent.js';
export { DaemonClient, DaemonService, type DaemonServer } from './gen/telepresence/daemon/v1/daemon.js';
export { serverStream, unaryCall, type CallMetadata, type CallOptions, type UnaryMethod } from './calls.js';
export { bearerHeaders, bearerInterceptor } from './bearer.js';
