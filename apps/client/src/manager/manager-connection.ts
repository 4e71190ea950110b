// The client's session with the traffic-manager, the shape of the agent's session-loop.ts: arrive, keep
// the session alive with Remain every 5 s, watch ClusterInfo, Depart on close. Unlike the agent it keeps
// its session through outages (intercepts and DNS belong to the session id): a broken ClusterInfo watch
// is opened again with backoff, and only an expired session (Remain says NOT_FOUND) makes it arrive again.
// Meanwhile `outage` says what is wrong, for status.
import os from 'node:os';
import type { Logger } from 'pino';

import type { manager } from '@telepresence/rpc';
import { Backoff, sleep } from '@telepresence/tunnel';

import { TpError } from '../util/errors.js';
import {
  MANAGER_RETRY_MAX_MS,
  errorText,
  isSessionGone,
  type ClusterInfo,
  type ManagerApi,
  type SessionInfo,
} from './manager-api.js';

export const VERSION = '0.1.0';
export const REMAIN_INTERVAL_MS = 5000;
const DEPART_TIMEOUT_MS = 2000;

export interface ManagerConnectionOptions {
  readonly api: ManagerApi;
  readonly log: Logger;
  /** The namespace the client connects to (sent with ArriveAsClient). */
  readonly namespace: string;
  /** Every ClusterInfo after the first (firstClusterInfo returns that one). */
  readonly onClusterInfo: (ci: ClusterInfo) => void;
  /** After each arrival (a new session: the intercepts are re-created on it, reengage.ts). */
  readonly onArrived?: (session: SessionInfo) => void;
  readonly remainIntervalMs?: number;
  /** Tests: no jitter. */
  readonly random?: () => number;
}

export class ManagerConnection {
  private current: SessionInfo | undefined;
  private outageText = '';
  private readonly closing = new AbortController();
  /** The current ClusterInfo watch: aborted to open it again at once (new session) or on close. */
  private watchCtl = new AbortController();
  private watching: Promise<void> | undefined;
  private remainTimer: NodeJS.Timeout | undefined;
  /** The re-arrival in progress: the watch and the keep-alive both notice an expired session. */
  private arriving: Promise<void> | undefined;
  private readonly backoff: Backoff;
  private readonly log: Logger;

  constructor(private readonly options: ManagerConnectionOptions) {
    this.log = options.log;
    this.backoff = new Backoff({
      initialMs: 100,
      maxMs: MANAGER_RETRY_MAX_MS,
      multiplier: 2,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
  }

  get api(): ManagerApi {
    return this.options.api;
  }

  /** The current session; undefined before the first arrival. */
  get session(): SessionInfo | undefined {
    return this.current;
  }

  /** What is wrong with the manager connection right now; '' when nothing. */
  get outage(): string {
    return this.outageText;
  }

  /** Waits for the channel, makes the tunnels' connection, and returns the manager's version. */
  async reach(address: string, timeoutMs: number): Promise<string> {
    await this.api.waitForReady(timeoutMs).catch((err: Error) => {
      throw new TpError('cluster', `cannot reach the traffic-manager at ${address}: ${err.message}`, {
        hint: 'check that the traffic-manager is installed and running (or the --manager-address)',
      });
    });
    // The tunnels' own connection, made now: the first flow does not wait for it, and a problem shows here.
    await this.api
      .connectTunnels()
      .catch((e: unknown) =>
        this.log.warn({ err: errorText(e) }, 'no tunnel connection to the traffic-manager yet'),
      );
    const version = await this.api.version(this.closing.signal);
    return version.info?.version ?? '';
  }

  async arrive(): Promise<SessionInfo> {
    const info: manager.ClientInfo = {
      name: `${os.userInfo().username}@${os.hostname()}`,
      namespace: this.options.namespace,
      installId: os.hostname(),
      version: VERSION,
    };
    this.current = await this.api.arriveAsClient(info, this.closing.signal);
    this.log.info({ session: this.current.sessionId }, 'arrived as client');
    this.options.onArrived?.(this.current);
    return this.current;
  }

  /**
   * Starts watching ClusterInfo and resolves with the first one; later ones go to onClusterInfo. Fails
   * when the watch breaks before the first one, or after `timeoutMs`.
   */
  firstClusterInfo(timeoutMs: number): Promise<ClusterInfo> {
    return new Promise<ClusterInfo>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new TpError('cluster', 'the traffic-manager sent no cluster info in time', {
              hint: 'see the traffic-manager logs',
            }),
          ),
        timeoutMs,
      );
      timer.unref();
      this.watching = this.watchLoop(
        (ci) => {
          clearTimeout(timer);
          resolve(ci);
        },
        (why) => {
          clearTimeout(timer);
          reject(
            new TpError('cluster', `watching cluster info: ${why}`, { hint: 'see the traffic-manager logs' }),
          );
        },
      );
    });
  }

  /** Remain every 5 s from now on (connect calls it last). */
  keepAlive(): void {
    this.remainTimer = setInterval(
      () => void this.remain(),
      this.options.remainIntervalMs ?? REMAIN_INTERVAL_MS,
    );
    this.remainTimer.unref();
  }

  /** One Remain; an expired session arrives again and the watch follows it. Tests call it directly. */
  async remain(): Promise<void> {
    const session = this.current;
    if (this.closing.signal.aborted || session === undefined) return;
    try {
      await this.api.remain(session, this.closing.signal);
      if (this.outageText.startsWith('keep-alive')) this.outageText = '';
    } catch (e) {
      if (this.closing.signal.aborted) return;
      if (isSessionGone(e)) {
        // One arrival at a time: two sessions would split the re-created intercepts between them.
        this.arriving ??= (async () => {
          this.log.warn('session expired at the traffic-manager; arriving again');
          try {
            await this.arrive();
            this.watchCtl.abort(); // the watch opens again at once, with the new session
          } catch (e2) {
            this.setOutage(`keep-alive: ${errorText(e2)}`);
          }
        })().finally(() => (this.arriving = undefined));
        await this.arriving;
      } else {
        this.setOutage(`keep-alive: ${errorText(e)}`);
      }
    }
  }

  private setOutage(text: string): void {
    if (this.outageText === '') this.log.warn({ outage: text }, 'traffic-manager outage');
    this.outageText = text;
  }

  /** Watches until close: each broken watch is opened again after a backoff (at once for a new session). */
  private async watchLoop(first: (ci: ClusterInfo) => void, failed: (why: string) => void): Promise<void> {
    let seen = false;
    while (!this.closing.signal.aborted) {
      const ctl = (this.watchCtl = new AbortController());
      const session = this.current;
      if (session === undefined) return;
      let why = 'cluster info stream ended';
      let gone = false;
      try {
        for await (const ci of this.api.watchClusterInfo(session, ctl.signal)) {
          if (this.outageText !== '') this.log.info('traffic-manager reachable again');
          this.outageText = '';
          this.backoff.reset();
          if (!seen) {
            seen = true;
            first(ci);
          } else this.options.onClusterInfo(ci);
        }
      } catch (e) {
        why = errorText(e);
        gone = isSessionGone(e);
      }
      if (this.closing.signal.aborted) return;
      if (ctl.signal.aborted) continue; // a new session: watch again at once
      this.setOutage(`traffic-manager unreachable: ${why}`);
      if (!seen) {
        failed(why);
        return;
      }
      if (gone) void this.remain();
      await sleep(this.backoff.next(), ctl.signal);
    }
  }

  /** Stops the watch and the keep-alive; departs when the manager is reachable. Never throws. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.remainTimer) clearInterval(this.remainTimer);
    this.watchCtl.abort();
    await this.watching?.catch(() => undefined);
  }

  /** Best effort, bounded: the manager expires the session anyway. */
  async depart(): Promise<void> {
    if (this.current === undefined || this.outageText !== '') return;
    await this.api.depart(this.current, AbortSignal.timeout(DEPART_TIMEOUT_MS));
  }
}
