// The kubelet's refresh of projected service-account tokens: a real kubelet replaces a mounted token
// once it is older than 80% of its lifetime (or 24 h), so that a program re-reading the file never
// holds an expired token. Here each running container gets one timer per token file; the new token is
// written into the container's private /run through /proc/<pid>/root and into the pod directory's
// mirror (which `devcluster exec` and a restarted container read), each by rename so that a reader
// sees the old token or the new one, never a partial file.
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface RotatedToken {
  /** Absolute path inside the container (under /run). */
  readonly file: string;
  /** Its copy in the pod's directory on the host. */
  readonly mirror: string;
  readonly audience: string | undefined;
  readonly expirationSeconds: number;
}

/** The real kubelet's share of a token's lifetime after which it is refreshed. */
export const defaultRefreshFraction = 0.8;
const maxRefreshAgeSeconds = 24 * 3600;

export interface TokenRotationOptions {
  /** Share of the lifetime after which a token is replaced; tests shrink it to see rotation in seconds. */
  readonly fraction: number;
  readonly mint: (token: RotatedToken) => string;
  /** Replaces the token's file (the kubelet: in the container and in the mirror). */
  readonly write: (token: RotatedToken, content: string) => Promise<void>;
  readonly log: (msg: string) => void;
}

/** Seconds after which a token of this lifetime is refreshed. */
export function refreshAfterSeconds(expirationSeconds: number, fraction: number): number {
  return Math.min(expirationSeconds * fraction, maxRefreshAgeSeconds);
}

/** Keeps one container's tokens fresh until stopped. */
export class TokenRotation {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    tokens: readonly RotatedToken[],
    private readonly o: TokenRotationOptions,
  ) {
    for (const t of tokens) this.schedule(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(token: RotatedToken): void {
    const ms = refreshAfterSeconds(token.expirationSeconds, this.o.fraction) * 1000;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped) return;
      this.o
        .write(token, this.o.mint(token))
        .catch((err: Error) => this.o.log(`kubelet: refreshing token ${token.file}: ${err.message}`))
        .finally(() => {
          if (!this.stopped) this.schedule(token);
        });
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}

/**
 * Writes `file` as process `pid` sees it (its mount namespace's private /run). The directory must
 * already exist there: before the container's setup has mounted its /run, the path would lead into
 * the host's /run instead.
 */
export async function writeInContainer(pid: number, file: string, content: string): Promise<void> {
  const target = path.join(`/proc/${pid}/root`, file);
  if (!existsSync(path.dirname(target))) throw new Error(`${path.dirname(file)} is not mounted yet`);
  await replaceFile(target, content);
}

/** Writes `file` by rename: a reader sees the old content or the new, never part of it. */
export async function replaceFile(file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}
