// Crash safety: removes what a dead daemon left behind. Everything is looked up both in its state file
// and by our fixed names (the nft table), so even a daemon that died before writing its state is cleaned.
// Idempotent: running it on a clean machine does nothing.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { NFT_TABLE, removeRedirect } from '../dns/nft-redirect.linux.js';
import { CommandError, type Run } from '../util/exec.js';
import type { DaemonPaths } from './paths.js';
import { readState } from './state-file.js';

export interface RecoveryResult {
  /** A live daemon owns the run dir: nothing was touched. */
  readonly alive: boolean;
  /** What was removed, for the user (empty: nothing was left). */
  readonly removed: readonly string[];
}

/** True for a running process; a zombie (dead, not yet reaped by its parent) counts as dead. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

async function ignoreMissing(what: Promise<unknown>): Promise<boolean> {
  try {
    await what;
    return true;
  } catch (e) {
    if (
      e instanceof CommandError &&
      /Cannot find device|No such file|does not exist|not found/i.test(e.stderr)
    ) {
      return false;
    }
    throw e;
  }
}

export async function recoverLeftovers(
  paths: DaemonPaths,
  run: Run,
  log: Logger,
  options: { selfPid?: number; knownDead?: boolean } = {},
): Promise<RecoveryResult> {
  const state = await readState(paths.stateFile);
  const selfPid = options.selfPid ?? process.pid;
  if (state !== undefined && state.pid !== selfPid && options.knownDead !== true && processAlive(state.pid)) {
    return { alive: true, removed: [] };
  }
  const removed: string[] = [];
  const tables = new Map<string, { family: string; name: string }>();
  for (const t of state?.nftTables ?? []) tables.set(`${t.family} ${t.name}`, t);
  const listed = await run('nft', ['list', 'tables']).catch(() => '');
  for (const line of listed.split('\n')) {
    const [, family, name] = line.trim().split(/\s+/);
    if (family !== undefined && name === NFT_TABLE) tables.set(`${family} ${name}`, { family, name });
  }
  for (const t of tables.values()) {
    if (t.name === NFT_TABLE) {
      await removeRedirect(run, t.name);
    } else if (!(await ignoreMissing(run('nft', ['delete', 'table', t.family, t.name])))) {
      continue;
    }
    removed.push(`nft table ${t.family} ${t.name}`);
  }
  if (state?.tun !== undefined && (await ignoreMissing(run('ip', ['link', 'del', state.tun])))) {
    removed.push(`TUN ${state.tun} and its routes`);
  }
  await fs.rm(paths.stateFile, { force: true });
  if (removed.length > 0)
    log.warn({ removed, deadPid: state?.pid }, 'removed what a dead daemon left behind');
  return { alive: false, removed };
}
