// The traffic-manager as a library, for tests and tools that run it in-process. Its in-memory cluster API
// for them is a separate entry, '@telepresence/traffic-manager/testing' (src/testing.ts).
export { parseConfig, ConfigError } from './config.js';
export type { ManagerConfig, PodCidrStrategy } from './config.js';
export { startTrafficManager, TUNNEL_PROTOCOL_VERSION } from './traffic-manager.js';
export type { RunningTrafficManager, TrafficManagerDeps } from './traffic-manager.js';
export { subnetMath } from './cluster-info/subnet-math.js';
export { parseResolvConf } from '@telepresence/dns-core';
export type { ClusterApi, ListWatchSource, WatchEvent } from './k8s/cluster-api.js';
export { KubeApiError } from './k8s/cluster-api.js';
export { MANAGER_VERSION } from './version.js';
export { kubeAuthApi } from './auth/kube-auth-api.js';
export type { AuthApi } from './auth/auth-api.js';
export type { AuthConfig, AuthMode } from './auth/auth-config.js';
