import type { DnsServer } from './server.js';
import type { RecursionState } from './recursion-state.js';
import { RECURSION_CHECK_NAME } from './routing.js';

export type { RecursionState } from './recursion-state.js';

export interface RecursionCheckOptions {
  /** Fires the probe through the OS resolver, e.g. `(name) => dns.promises.lookup(name)`. Errors are ignored. */
  readonly probe: (name: string) => Promise<unknown>;
  /** Probes fired before giving up when none reaches the server. Default 10. */
  readonly attempts?: number;
  /** Pause between probes. Default 500 ms. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs the recursion check: fires `RECURSION_CHECK_NAME` through the OS until a probe reaches the server,
 * then waits for the verdict. Resolves with the final state; 'not-yet' means no probe ever arrived (the
 * OS does not send our names to us: DNS is not configured properly).
 */
export async function runRecursionCheck(
  server: DnsServer,
  options: RecursionCheckOptions,
): Promise<RecursionState> {
  const attempts = options.attempts ?? 10;
  const intervalMs = options.intervalMs ?? 500;
  for (let i = 0; i < attempts && server.recursionState === 'not-yet' && !options.signal?.aborted; i++) {
    // Deliberately not awaited: the probe may hang while the cluster is asked; the state is what counts.
    options.probe(RECURSION_CHECK_NAME).catch(() => {});
    await server.waitForRecursionState((s) => s !== 'not-yet', intervalMs, options.signal);
  }
  if (server.recursionState === 'not-yet') return 'not-yet';
  await server.waitForRecursionState((s) => s === 'detected' || s === 'not-detected', 60_000, options.signal);
  return server.recursionState;
}
