// In-memory TUN and route table for unit tests of the session: a libs/netstack MemoryDevice, and a route
// list that records every change, so tests read what the session did to the machine.
import { MemoryDevice } from '@telepresence/netstack';
import { parseCidr } from '@telepresence/subnets';
import type { ExistingRoute } from '../routing/conflicts.js';
import type { RouteTable } from '../routing/route-table.js';
import type { OpenTun, Tun } from '../vif/tun.js';

/** What a test sees of the machine: links, routes, and every change in order. */
export class MemoryMachine {
  readonly links = new Map<string, { up: boolean; mtu: number; addresses: string[]; device: MemoryDevice }>();
  /** The routes the session did not make (the machine's own). */
  readonly existing: ExistingRoute[] = [];
  readonly routes: { link: string; cidr: string }[] = [];
  /** "open tel0", "up tel0", "route add 198.18.0.0/16 tel0", "close tel0", ... */
  readonly log: string[] = [];
  /** Makes the next operation whose log line starts with this fail (once). */
  failNext: string | undefined;
  private next = 0;

  private step(line: string): void {
    if (this.failNext !== undefined && line.startsWith(this.failNext)) {
      this.failNext = undefined;
      throw new Error(`memory machine: ${line} failed`);
    }
    this.log.push(line);
  }

  readonly openTun: OpenTun = (namePattern: string): Tun => {
    const name = namePattern.replace('%d', String(this.next++));
    this.step(`open ${name}`);
    const device = new MemoryDevice();
    const link = { up: false, mtu: 1500, addresses: [] as string[], device };
    this.links.set(name, link);
    return {
      name,
      device,
      bringUp: async (mtu) => {
        this.step(`up ${name}`);
        link.mtu = mtu;
        link.up = true;
      },
      addAddress: async (cidr) => {
        this.step(`address ${cidr} ${name}`);
        link.addresses.push(cidr);
      },
      ifindex: async () => 100 + [...this.links.keys()].indexOf(name),
      close: () => {
        this.step(`close ${name}`);
        this.links.delete(name);
        // The kernel removes a link's routes with it.
        for (let i = this.routes.length - 1; i >= 0; i--)
          if (this.routes[i]?.link === name) this.routes.splice(i, 1);
      },
    };
  };

  readonly routeTable: RouteTable = {
    read: async () => [
      ...this.existing,
      ...this.routes.map((r) => ({
        cidr: parseCidr(r.cidr),
        interface: r.link,
        text: `${r.cidr} dev ${r.link}`,
      })),
    ],
    add: async (link, cidr) => {
      this.step(`route add ${cidr} ${link}`);
      if (!this.links.has(link)) throw new Error(`no link ${link}`);
      this.routes.push({ link, cidr });
    },
    delete: async (link, cidr) => {
      this.step(`route delete ${cidr} ${link}`);
      const i = this.routes.findIndex((r) => r.link === link && r.cidr === cidr);
      if (i >= 0) this.routes.splice(i, 1);
    },
  };

  /** The routes on a link, sorted. */
  routesOf(link: string): string[] {
    return this.routes
      .filter((r) => r.link === link)
      .map((r) => r.cidr)
      .sort();
  }
}
