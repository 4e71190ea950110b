// What the daemon created on the machine, written before each thing is created, so that the next daemon
// (or `quit`) can remove the leftovers of one that was killed with -9.
import fs from 'node:fs/promises';

export interface NftTableRef {
  readonly family: 'ip' | 'ip6' | 'inet';
  readonly name: string;
}

export interface DaemonState {
  readonly pid: number;
  readonly startedAt: string;
  readonly tun?: string;
  readonly nftTables: readonly NftTableRef[];
  readonly routes: readonly string[];
}

export class StateFile {
  private state: DaemonState;

  constructor(
    private readonly file: string,
    pid: number,
  ) {
    this.state = { pid, startedAt: new Date().toISOString(), nftTables: [], routes: [] };
  }

  get current(): DaemonState {
    return this.state;
  }

  async update(change: (s: DaemonState) => DaemonState): Promise<void> {
    this.state = change(this.state);
    await writeAtomically(this.file, `${JSON.stringify(this.state, null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** The state a previous daemon left, or undefined when there is none (or it is unreadable garbage). */
export async function readState(file: string): Promise<DaemonState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<DaemonState>;
    if (typeof parsed.pid !== 'number') return undefined;
    return {
      pid: parsed.pid,
      startedAt: String(parsed.startedAt ?? ''),
      ...(typeof parsed.tun === 'string' ? { tun: parsed.tun } : {}),
      nftTables: Array.isArray(parsed.nftTables) ? parsed.nftTables : [],
      routes: Array.isArray(parsed.routes) ? parsed.routes : [],
    };
  } catch {
    return undefined;
  }
}
