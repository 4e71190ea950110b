// The dial rendezvous (reference 1.7): a stream that needs a peer session to dial (an agent for a client's
// flow, a client for an agent's inbound flow) posts a DialRequest on the peer's WatchDial stream and waits,
// bounded, for the peer to open a Tunnel with the same connection id.
import type { common } from '@telepresence/rpc';

import { AsyncQueue } from '../util/async-queue.js';

export class RendezvousTimeoutError extends Error {
  override readonly name = 'RendezvousTimeoutError';
}

export class NotWatchingError extends Error {
  override readonly name = 'NotWatchingError';
}

interface Waiter<S> {
  resolve(stream: S): void;
}

export class DialRendezvous<S> {
  private readonly watchers = new Map<string, AsyncQueue<common.DialRequest>>();
  private readonly waiting = new Map<string, Waiter<S>>();

  /** A session's WatchDial stream registers here; the returned function unregisters it. */
  watch(sessionId: string): { queue: AsyncQueue<common.DialRequest>; unregister: () => void } {
    const queue = new AsyncQueue<common.DialRequest>(1024);
    this.watchers.set(sessionId, queue);
    return {
      queue,
      unregister: () => {
        if (this.watchers.get(sessionId) === queue) this.watchers.delete(sessionId);
      },
    };
  }

  isWatching(sessionId: string): boolean {
    return this.watchers.has(sessionId);
  }

  /**
   * Asks the peer session to open a Tunnel for the request's conn id and resolves with that stream.
   * Rejects with NotWatchingError when the peer has no WatchDial stream, RendezvousTimeoutError after
   * timeoutMs, or the signal's reason.
   */
  async request(
    peerSessionId: string,
    request: common.DialRequest,
    key: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<S> {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('dial aborted');
    const queue = this.watchers.get(peerSessionId);
    if (queue === undefined) {
      throw new NotWatchingError(`session ${peerSessionId} is not watching for dial requests`);
    }
    const waitKey = `${peerSessionId}/${key}`;
    if (this.waiting.has(waitKey)) {
      throw new Error(`a dial for this connection id is already waiting on session ${peerSessionId}`);
    }
    return new Promise<S>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiting.delete(waitKey);
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason instanceof Error ? signal.reason : new Error('dial aborted'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new RendezvousTimeoutError(
            `session ${peerSessionId} did not answer the dial request within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(waitKey, {
        resolve: (s) => {
          cleanup();
          resolve(s);
        },
      });
      try {
        queue.push(request);
      } catch (e) {
        cleanup();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** A Tunnel opened by sessionId for key: hands it to the waiting dial; false when nobody waits for it. */
  answer(sessionId: string, key: string, stream: S): boolean {
    const waiter = this.waiting.get(`${sessionId}/${key}`);
    if (waiter === undefined) return false;
    waiter.resolve(stream);
    return true;
  }
}
