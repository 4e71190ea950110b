// The cluster's fixed address plan, for code that talks to a devcluster.
export {
  apiServerIp,
  clusterDnsListenIp,
  clusterDomain,
  kubeDnsServiceIp,
  kubernetesServiceIp,
  nodeCidr,
  nodeGateway,
  podCidr,
  serviceCidr,
  upstreamDnsIp,
  workstationIp,
} from './topology.js';
