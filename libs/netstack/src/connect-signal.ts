// What a flow handler is given to learn that a connection it is still deciding on went away (the
// application gave up, the connect timeout, the stack closed): the part of AbortSignal's shape that
// handlers and TunnelStream use (`aborted`, `reason`, 'abort' listeners), without its cost. An
// AbortController per connection, a listener on its EventTarget and the Event of its abort were about
// 4% of the client daemon's CPU per connect (issue 15). The handler may abort it too (the client's
// refusal of a recursive dial ends the dial it echoes).

/** A listener as EventTarget takes one: a function or an object with handleEvent(). */
export type AbortListener = ((event: Event) => void) | { handleEvent(event: Event): void };

/** The one event every listener gets (nothing reads more than its type). */
const ABORT_EVENT = Object.freeze({ type: 'abort' }) as unknown as Event;

export class ConnectSignal {
  aborted = false;
  reason: unknown = undefined;
  /** One listener (the usual case: a tunnel stream) or several. */
  private listeners: AbortListener | AbortListener[] | undefined;

  /** Like EventTarget's: each listener runs once, on abort (or never, if removed first). */
  addEventListener(_type: 'abort', listener: AbortListener, _options?: { once?: boolean }): void {
    const l = this.listeners;
    if (l === undefined) this.listeners = listener;
    else if (Array.isArray(l)) l.push(listener);
    else this.listeners = [l, listener];
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const l = this.listeners;
    if (l === listener) this.listeners = undefined;
    else if (Array.isArray(l)) {
      const i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    }
  }

  /** Aborts once with `reason`; the listeners run in the order they were added. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const l = this.listeners;
    this.listeners = undefined;
    if (l === undefined) return;
    for (const listener of Array.isArray(l) ? l : [l]) {
      if (typeof listener === 'function') listener(ABORT_EVENT);
      else listener.handleEvent(ABORT_EVENT);
    }
  }
}
