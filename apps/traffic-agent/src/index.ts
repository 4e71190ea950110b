// @telepresence/traffic-agent: the sidecar's parts, exported for tests and e2e harnesses.
export { AGENT_VERSION, agentInfo, startAgent, type AgentDeps, type RunningAgent } from './agent.js';
export {
  ConfigError,
  ENV as AGENT_ENV,
  parseAgentConfig,
  portMatches,
  type AgentConfig,
  type InterceptPort,
} from './config.js';
export { grpcManagerApi, type AgentManagerApi } from './manager-api.js';
export { lookupInPod, nodeExactLookup, parseResolvConf, type ResolvConf } from './pod-resolver.js';
export { InterceptTable, type ActiveIntercept } from './intercept-table.js';
