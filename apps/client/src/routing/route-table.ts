// The machine's route table as the session sees it: read every route (the conflict check) and add or
// delete the routes on our TUN. Linux: route-table.linux.ts; unit tests: testing/memory-route-table.ts.
import type { ExistingRoute } from './conflicts.js';

export interface RouteTable {
  /** Every route of every table, both families. */
  read(): Promise<ExistingRoute[]>;
  add(link: string, cidr: string): Promise<void>;
  delete(link: string, cidr: string): Promise<void>;
}
