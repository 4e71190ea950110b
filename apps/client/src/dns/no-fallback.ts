// The fallback for mechanisms where the OS only sends us the cluster's domains (systemd-resolved, macOS):
// a cluster-routed name the cluster does not know is NXDOMAIN. Asking the system resolver instead would
// route the name straight back to us (a loop).
import { Rcode, type Upstream } from '@telepresence/dns-core';

export const noFallback: Upstream = {
  exchange: () =>
    Promise.resolve({
      rcode: Rcode.NXDOMAIN,
      authoritative: false,
      answers: [],
      authorities: [],
      additionals: [],
    }),
  close: () => {},
};
