// Pod addresses on a node (198.18.<node>.2-254). Like the host-local IPAM of real CNI plugins, the next
// address is the first free one after the last handed out, wrapping around: a pod replaced by a new one
// (a restarted Deployment) gets a different address, as on a real cluster, so clients that cache a pod's
// address (DNS of a headless Service) meet the same change there as here.
export const FIRST_HOST = 2;
export const LAST_HOST = 254;

export class PodIps {
  private readonly used = new Set<number>();
  private last = FIRST_HOST - 1;

  /** The host part of a free address, or undefined when all are taken. */
  allocate(): number | undefined {
    const count = LAST_HOST - FIRST_HOST + 1;
    for (let i = 1; i <= count; i++) {
      const host = FIRST_HOST + ((this.last - FIRST_HOST + i) % count);
      if (!this.used.has(host)) {
        this.used.add(host);
        this.last = host;
        return host;
      }
    }
    return undefined;
  }

  release(host: number): void {
    this.used.delete(host);
  }
}
