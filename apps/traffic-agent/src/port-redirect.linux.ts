// Numeric Service target ports: the Service sends traffic to podIP:containerPort, which the app itself
// listens on, so the agent cannot take the port over by name. Like the original's init container, the
// agent then redirects incoming (PREROUTING) TCP to containerPort to its own port, inside the pod's
// network namespace only. The agent's own connections to the app originate in the pod (OUTPUT), so they
// are not redirected and reach the app. The table is removed when the agent stops; a stale one from a
// crashed agent is replaced on start.
import { run } from '@telepresence/exec';

import type { InterceptPort } from './config.js';

export const REDIRECT_TABLE = 'telepresence_agent';

export type RunNft = (script: string) => Promise<void>;

export const runNft: RunNft = async (script) => {
  await run('nft', ['-f', '-'], { input: script });
};

/** The nft script that (re)creates the redirect table; exported for tests. */
export function redirectScript(ports: readonly InterceptPort[]): string {
  const rules = ports
    .filter((p) => p.redirect)
    .map((p) => `    tcp dport ${p.containerPort} redirect to :${p.agentPort}`);
  return [
    `table inet ${REDIRECT_TABLE} {}`,
    `delete table inet ${REDIRECT_TABLE}`,
    `table inet ${REDIRECT_TABLE} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...rules,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Installs the redirects (if any port needs one); the returned function removes them. */
export async function installRedirects(
  ports: readonly InterceptPort[],
  run: RunNft = runNft,
): Promise<() => Promise<void>> {
  if (!ports.some((p) => p.redirect)) return async () => {};
  await run(redirectScript(ports));
  return async () => {
    await run(`table inet ${REDIRECT_TABLE} {}\ndelete table inet ${REDIRECT_TABLE}\n`).catch(() => {});
  };
}
