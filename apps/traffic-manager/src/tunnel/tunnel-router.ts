// The Tunnel side of the Manager (reference 1.7, seed "Connection origin"). For each Tunnel call:
//  1. The stream answers a dial request this manager made (same session + conn id): hand it to the waiter.
//  2. An agent's stream (inbound intercept traffic) names its client with a SESSION frame: ask that client,
//     through its WatchDial, to open a Tunnel with the same conn id, and splice the two.
//  3. A client's stream: when the client intercepts workloads whose agents watch for dials, one of them
//     dials from its pod (the pod whose IP is the destination first); otherwise the manager dials from its
//     own pod. Every wait for a peer is bounded by the stream's dial timeout plus round-trip latency.
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { common, manager } from '@telepresence/rpc';
import { ipTextFromBytes } from '@telepresence/subnets';
import {
  acceptTunnel,
  type FrameChannel,
  dialRejectReason,
  dialTcp,
  logHandshakeFailure,
  pumpSocket,
  serveDialer,
  splice,
  type StreamEnd,
  type TunnelStream,
} from '@telepresence/tunnel';

import type { InterceptStore } from '../intercepts/intercept-store.js';
import type { DialResult, ManagerMetrics } from '../metrics.js';
import type { AgentSession, ClientSession, Session, SessionRegistry } from '../sessions/session-registry.js';
import { DialRendezvous, NotWatchingError, RendezvousTimeoutError } from './dial-rendezvous.js';
import type { TunnelAdmission, TunnelBroker, TunnelCall } from './tunnel-broker.js';

export interface TunnelRouterOptions {
  readonly sessions: SessionRegistry;
  readonly intercepts: InterceptStore;
  readonly metrics: ManagerMetrics;
  readonly log: Logger;
  readonly managerNamespace: string;
  /** Used when a stream carries no dial timeout. */
  readonly defaultDialTimeoutMs?: number;
  /** How long an agent's stream may take to name its client (SESSION frame). */
  readonly sessionFrameTimeoutMs?: number;
}

const NS_PER_MS = 1_000_000;
/** OPEN_OK waits for a dial of this pod's only while the dial may take at most this long. */
const DEFER_OPEN_OK_MAX_DIAL_MS = 5_000;

/** A flow that was set up and now runs until `end` (wrapped: a promise in a promise would flatten). */
interface Running {
  readonly end: Promise<StreamEnd | undefined>;
}

function dialResultOf(reason: string): DialResult {
  switch (reason) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    default:
      return 'error';
  }
}

export class TunnelRouter implements TunnelBroker {
  private readonly rendezvous = new DialRendezvous<TunnelStream>();
  private readonly log: Logger;
  private roundRobin = 0;

  constructor(private readonly options: TunnelRouterOptions) {
    this.log = options.log.child({ component: 'tunnel' });
  }

  tunnel(call: TunnelCall | FrameChannel, admission?: TunnelAdmission): void {
    // OPEN_OK waits for the dial result where this pod dials (one message instead of two, issue 15);
    // every other route sends it at once (confirmOpen): their peers wait for it before they go on.
    acceptTunnel(call, { log: this.log, deferOpenOk: true }).then(
      (stream) => (admission === undefined ? this.route(stream) : this.admitted(stream, admission)),
      (e: unknown) => logHandshakeFailure(this.log, e),
    );
  }

  async watchDial(
    session: Session,
    call: ServerWritableStream<manager.WatchDialRequest, common.DialRequest>,
    signal: AbortSignal,
  ): Promise<void> {
    const { queue, unregister } = this.rendezvous.watch(session.id);
    try {
      for (;;) {
        const request = await queue.take(signal);
        if (request === undefined) return;
        if (!call.write(request)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done);
              signal.removeEventListener('abort', done);
              resolve();
            };
            call.on('drain', done);
            signal.addEventListener('abort', done, { once: true });
          });
        }
      }
    } finally {
      unregister();
    }
  }

  /** Routes the stream once the caller may use the session it names; rejects it otherwise. */
  private admitted(stream: TunnelStream, admission: TunnelAdmission): void {
    admission(stream.sessionId).then(
      (refusal) => {
        if (refusal === undefined) this.route(stream);
        else if (!stream.closed) stream.dialReject('permission-denied', refusal);
      },
      (e: unknown) => !stream.closed && stream.dialReject('permission-denied', String(e)),
    );
  }

  private route(stream: TunnelStream): void {
    const session = this.options.sessions.find(stream.sessionId);
    if (session === undefined) {
      stream.dialReject(
        'unknown-session',
        `session "${stream.sessionId}" is unknown to this traffic-manager; arrive again`,
      );
      return;
    }
    if (this.rendezvous.answer(session.id, stream.id.key, stream)) {
      stream.confirmOpen(); // an agent or client answering a dial request: it dials after OPEN_OK
      return;
    }
    const work =
      session.kind === 'agent' ? this.fromAgent(session, stream) : this.fromClient(session, stream);
    work.catch((e: unknown) => {
      this.log.warn({ connId: stream.id.toString(), err: String(e) }, 'tunnel failed');
      if (!stream.closed) stream.disconnect('internal', e);
    });
  }

  private async fromClient(client: ClientSession, stream: TunnelStream): Promise<void> {
    const { metrics } = this.options;
    metrics.tunnelsActive.inc();
    let running: Running | undefined;
    try {
      const agent = this.agentFor(client, stream);
      if (agent !== undefined) {
        stream.confirmOpen(); // the wait for the agent's stream may be long
        const peer = await this.dialPeer(stream, agent.id, client.id);
        if (peer === undefined) return;
        metrics.dials.inc({ result: 'agent' });
        running = { end: splice(stream, peer).then(([end]) => end) };
      } else {
        running = await this.dialFromManager(stream);
      }
    } finally {
      if (running === undefined) metrics.tunnelsActive.dec();
    }
    if (running === undefined) return;
    // Once set up, the flow runs on without this (suspended) function: thousands of idle flows.
    void running.end.then((end) => {
      if (end !== undefined) {
        metrics.tunnelBytes.inc({ direction: 'from_client' }, end.stats.bytesReceived);
        metrics.tunnelBytes.inc({ direction: 'to_client' }, end.stats.bytesSent);
      }
      metrics.tunnelsActive.dec();
    });
  }

  private async fromAgent(_agent: AgentSession, stream: TunnelStream): Promise<void> {
    stream.confirmOpen(); // the agent names its client (SESSION) after OPEN_OK
    const clientId = await this.sessionFrame(stream);
    if (clientId === undefined) {
      stream.dialReject('no-session', 'an agent tunnel must name its client with a SESSION frame first');
      return;
    }
    const client = this.options.sessions.find(clientId);
    if (client?.kind !== 'client') {
      stream.dialReject('unknown-session', `client session "${clientId}" is unknown to this traffic-manager`);
      return;
    }
    const { metrics } = this.options;
    metrics.tunnelsActive.inc();
    try {
      const peer = await this.dialPeer(stream, client.id, client.id);
      if (peer === undefined) return;
      const [, clientEnd] = await splice(stream, peer);
      metrics.tunnelBytes.inc({ direction: 'to_client' }, clientEnd.stats.bytesSent);
      metrics.tunnelBytes.inc({ direction: 'from_client' }, clientEnd.stats.bytesReceived);
    } finally {
      metrics.tunnelsActive.dec();
    }
  }

  /** The agent that should originate a client's flow, or undefined for the manager itself. */
  private agentFor(client: ClientSession, stream: TunnelStream): AgentSession | undefined {
    const candidates = this.options.intercepts
      .interceptingAgents(client.id)
      .filter((a) => this.rendezvous.isWatching(a.id));
    if (candidates.length === 0) return undefined;
    const dst = stream.id.destination.ip;
    const exact = candidates.find((a) => a.agent.podIp.length > 0 && ipTextFromBytes(a.agent.podIp) === dst);
    if (exact !== undefined) return exact;
    return candidates[this.roundRobin++ % candidates.length];
  }

  /** Asks peerSessionId to open the matching stream; rejects `stream` and returns undefined on failure. */
  private async dialPeer(
    stream: TunnelStream,
    peerSessionId: string,
    onBehalfOf: string,
  ): Promise<TunnelStream | undefined> {
    const dialTimeoutMs =
      stream.dialTimeoutMs > 0 ? stream.dialTimeoutMs : (this.options.defaultDialTimeoutMs ?? 3000);
    const waitMs = dialTimeoutMs + Math.max(stream.roundtripLatencyMs, 0) + 2000;
    const abort = new AbortController();
    // onClosed, not once('close'): the stream may have ended while we looked for the peer.
    const unsubscribe = stream.onClosed(() => abort.abort(new Error('the originating stream closed')));
    try {
      return await this.rendezvous.request(
        peerSessionId,
        {
          connId: stream.id.toBytes(),
          roundtripLatency: Math.round(stream.roundtripLatencyMs * NS_PER_MS),
          dialTimeout: Math.round(dialTimeoutMs * NS_PER_MS),
          sessionId: onBehalfOf,
        },
        stream.id.key,
        waitMs,
        abort.signal,
      );
    } catch (e) {
      const timedOut = e instanceof RendezvousTimeoutError;
      this.options.metrics.dials.inc({ result: timedOut ? 'agent-timeout' : 'error' });
      if (!stream.closed) {
        const message = e instanceof Error ? e.message : String(e);
        stream.dialReject(
          timedOut ? 'ETIMEDOUT' : e instanceof NotWatchingError ? 'EHOSTUNREACH' : 'peer-error',
          message,
        );
      }
      return undefined;
    } finally {
      unsubscribe();
    }
  }

  /** Dials from this pod; undefined when the dial failed (the stream was rejected). */
  private async dialFromManager(stream: TunnelStream): Promise<Running | undefined> {
    const { metrics } = this.options;
    if (stream.id.protocol === 'udp') {
      stream.confirmOpen();
      metrics.dials.inc({ result: 'ok' });
      return {
        end: serveDialer(stream, { defaultDialTimeoutMs: this.options.defaultDialTimeoutMs ?? 3000 }),
      };
    }
    const timeoutMs =
      stream.dialTimeoutMs > 0 ? stream.dialTimeoutMs : (this.options.defaultDialTimeoutMs ?? 3000);
    // The client's handshake timeout (10 s by default) must not run out while OPEN_OK waits.
    if (timeoutMs > DEFER_OPEN_OK_MAX_DIAL_MS) stream.confirmOpen();
    const { ip, port } = stream.id.destination;
    try {
      const socket = await dialTcp(ip, port, timeoutMs, stream, { readFrames: true });
      if (stream.closed) {
        socket.destroy();
        return undefined;
      }
      metrics.dials.inc({ result: 'ok' });
      stream.dialOk();
      return { end: pumpSocket(stream, socket) }; // never rejects
    } catch (e) {
      const reason = dialRejectReason(e);
      metrics.dials.inc({ result: dialResultOf(reason) });
      this.log.debug({ connId: stream.id.toString(), reason }, 'dial failed');
      if (!stream.closed) stream.dialReject(reason, e instanceof Error ? e.message : String(e));
      return undefined;
    }
  }

  /** The client session an agent's stream names (SESSION frame), waited for a bounded time. */
  private sessionFrame(stream: TunnelStream): Promise<string | undefined> {
    if (stream.peerSessionId !== undefined) return Promise.resolve(stream.peerSessionId);
    return new Promise((resolve) => {
      const done = (id: string | undefined): void => {
        clearTimeout(timer);
        stream.off('session', onSession);
        unsubscribe();
        resolve(id);
      };
      const onSession = (id: string): void => done(id);
      const timer = setTimeout(() => done(undefined), this.options.sessionFrameTimeoutMs ?? 5000);
      stream.on('session', onSession);
      // Also fires at once for a stream that already ended: then no 'session' or 'close' is coming.
      let unsubscribe = (): void => {};
      unsubscribe = stream.onClosed(() => done(undefined));
    });
  }
}
