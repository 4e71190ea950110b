// The agent owns each intercepted port: a listener on the port the Service reaches in this pod. Each
// accepted connection goes to the app container (appHost:containerPort) when nobody intercepts the
// port, or to the intercept handler (a tunnel to the intercepting client) when someone does. The choice
// is made per connection, so connections that started before an intercept (or before `leave`) finish
// where they started.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

import type { InterceptPort } from './config.js';
import type { ActiveIntercept, InterceptTable } from './intercept-table.js';
import type { Logger } from './log.js';

/** Takes ownership of an accepted connection that belongs to an intercept. */
export type InterceptHandler = (intercept: ActiveIntercept, caller: Socket) => void;

export interface PortForwarderOptions {
  readonly port: InterceptPort;
  readonly appHost: string;
  readonly table: InterceptTable;
  readonly onIntercepted: InterceptHandler;
  readonly log: Logger;
  /** Default: all addresses (dual stack). */
  readonly listenHost?: string;
  /** Connect timeout towards the app. */
  readonly appConnectTimeoutMs?: number;
}

export interface PortForwarderStats {
  toApp: number;
  intercepted: number;
  appFailures: number;
}

export class PortForwarder {
  readonly stats: PortForwarderStats = { toApp: 0, intercepted: 0, appFailures: 0 };
  private readonly server: Server;
  private readonly open = new Set<Socket>();

  constructor(private readonly options: PortForwarderOptions) {
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
  }

  /** Listens; rejects with a message naming the port when it is taken. */
  listen(): Promise<number> {
    const { port, listenHost } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void =>
        reject(
          new Error(
            `cannot listen on agent port ${port.agentPort} (for container port ${port.containerPort}): ${e.message}`,
          ),
        );
      this.server.once('error', onError);
      this.server.listen({ port: port.agentPort, host: listenHost }, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  get address(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting and ends open connections (RST: the pod is going away). */
  close(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(caller: Socket): void {
    this.open.add(caller);
    caller.once('close', () => this.open.delete(caller));
    const intercept = this.options.table.activeFor(this.options.port.agentPort);
    if (intercept !== undefined) {
      this.stats.intercepted++;
      this.options.onIntercepted(intercept, caller);
      return;
    }
    this.stats.toApp++;
    this.forwardToApp(caller);
  }

  /** Pipes both ways with half-close; a failed app connect resets the caller (it sees a refusal-like RST). */
  private forwardToApp(caller: Socket): void {
    const { appHost, port, log } = this.options;
    const app = connect({ host: appHost, port: port.containerPort, allowHalfOpen: true, noDelay: true });
    caller.setNoDelay(true);
    const timer = setTimeout(
      () => app.destroy(new Error(`connect timed out`)),
      this.options.appConnectTimeoutMs ?? 5000,
    );
    timer.unref();
    let connected = false;
    app.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      caller.pipe(app);
      app.pipe(caller);
      caller.resume();
    });
    app.on('error', (e) => {
      clearTimeout(timer);
      if (!connected) {
        this.stats.appFailures++;
        log.warn(
          { app: `${appHost}:${port.containerPort}`, err: e.message },
          'cannot reach the app container; resetting the caller',
        );
      }
      reset(caller);
    });
    caller.on('error', () => reset(app));
    // A peer that vanishes after both FINs has nothing left to say; one that closes early resets the other.
    app.on('close', () => {
      if (!caller.destroyed && !(caller.writableEnded && caller.readableEnded)) {
        if (!caller.writableEnded) caller.end();
      }
    });
    caller.on('close', () => {
      if (!app.destroyed && !app.writableEnded) app.destroy();
    });
  }
}

export function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
