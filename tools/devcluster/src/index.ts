// Programmatic API of devcluster (used by e2e tests and the demo).
export {
  addNode,
  attachDevCluster,
  cleanupRun,
  clusterStatus,
  DevClusterError,
  execArgv,
  listNodes,
  removeNode,
  startDevCluster,
  stopDevCluster,
} from './cluster.js';
export type { DevCluster, DevClusterOptions, ExecResult, ExecTarget } from './cluster.js';
export type { ReadyInfo } from './state.js';
export type { UserKubeconfigOptions, UserKubeconfigs } from './users.js';
export type { NodeInfo } from './nodes.js';
export { applyManifests } from './apply.js';
export { loadImageMap, resolveProgram, defaultImagesFile } from './kubelet/images.js';
export type { ImageEntry, ImageMap } from './kubelet/images.js';
export * as addresses from './net/addresses.js';
