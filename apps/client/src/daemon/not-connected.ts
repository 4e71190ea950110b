// What `status` reports when no session is up: from the daemon while disconnected, and from the CLI when
// no daemon runs at all.
import type { daemon } from '@telepresence/rpc';

export const NOT_CONNECTED: daemon.StatusResponse = {
  connected: false,
  sessionId: '',
  managerVersion: '',
  namespace: '',
  managerNamespace: '',
  routedSubnets: [],
  neverProxiedSubnets: [],
  dns: undefined,
  counters: undefined,
  outage: '',
  logFile: '',
  tunName: '',
  intercepts: [],
  credentials: undefined,
  pushedConfig: undefined,
};
