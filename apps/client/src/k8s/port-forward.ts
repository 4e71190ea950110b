// Reaches the traffic-manager through a Kubernetes port-forward: each connection is one port-forward
// WebSocket to the manager pod's API port, either as a byte stream the tunnel's HTTP/2 runs on (no loopback
// hop on the data path) or behind a loopback listener for the gRPC channel. The pod is looked up again for
// each new connection, so when the forward breaks (pod restarted, API server hiccup) the next connection
// goes to whatever pod is running now.
import type https from 'node:https';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { AuthorizationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { TpError } from '../util/errors.js';
import { apiMessage, isForbidden, unreachableApiServer } from './api-errors.js';
import { reportIfUnauthorized } from './refreshed-kubeconfig.js';

export const MANAGER_SELECTORS = ['app=traffic-manager', 'app.kubernetes.io/name=traffic-manager'];
export const DEFAULT_API_PORT = 8081;

export interface ManagerPod {
  readonly name: string;
  readonly port: number;
}

function isReady(pod: V1Pod): boolean {
  return (
    pod.status?.phase === 'Running' &&
    pod.metadata?.deletionTimestamp === undefined &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

export function apiPortOf(pod: V1Pod): number {
  for (const container of pod.spec?.containers ?? []) {
    for (const p of container.ports ?? []) {
      if (p.name === 'api' || p.name === 'grpc') return p.containerPort;
    }
  }
  return DEFAULT_API_PORT;
}

export async function findManagerPod(kc: KubeConfig, namespace: string): Promise<ManagerPod> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const labelSelector of MANAGER_SELECTORS) {
    let pods: V1Pod[];
    try {
      pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
    } catch (e) {
      const unreachable = unreachableApiServer(
        e,
        kc.getCurrentCluster()?.server ?? '(no server)',
        `listing pods in namespace "${namespace}"`,
      );
      if (unreachable !== undefined) throw unreachable;
      throw new TpError('cluster', `listing pods in namespace "${namespace}": ${apiMessage(e)}`, {
        hint: isForbidden(e)
          ? `you need "list" on pods in namespace "${namespace}": ask for the telepresence-client ClusterRole (chart value clientRbac)`
          : 'check that the cluster is reachable and that you may list pods there',
        cause: e,
      });
    }
    const pod = pods.find(isReady);
    if (pod?.metadata?.name !== undefined) return { name: pod.metadata.name, port: apiPortOf(pod) };
  }
  throw new TpError('cluster', `no ready traffic-manager pod in namespace "${namespace}"`, {
    hint: 'install the chart (helm install ... charts/telepresence) or pass --manager-namespace',
  });
}

/**
 * The port-forward needs `get` and `create` on pods/portforward in the manager's namespace (WebSocket
 * port-forwards are authorized for both). Asked up front with SelfSubjectAccessReviews, so that connect
 * fails naming the missing permission instead of every later gRPC call failing. An API server that does
 * not answer the review is not held against the user: the port-forward itself then decides.
 */
export async function requirePortForward(kc: KubeConfig, namespace: string, pod: string): Promise<void> {
  const authz = kc.makeApiClient(AuthorizationV1Api);
  for (const verb of ['get', 'create']) {
    let allowed: boolean | undefined;
    try {
      const r = await authz.createSelfSubjectAccessReview({
        body: {
          spec: {
            resourceAttributes: { namespace, verb, resource: 'pods', subresource: 'portforward', name: pod },
          },
        },
      });
      allowed = r.status?.allowed;
    } catch {
      return;
    }
    if (allowed === false)
      throw new TpError(
        'cluster',
        `you may not ${verb} pods/portforward in namespace "${namespace}": the client reaches the traffic-manager through a port-forward to its pod`,
        {
          hint: `ask for "get" and "create" on pods/portforward in namespace "${namespace}" (the chart's telepresence-client ClusterRole, value clientRbac)`,
        },
      );
  }
}

export interface ManagerForward {
  /** 127.0.0.1:port for the gRPC client. */
  readonly address: string;
  /** A new port-forward to the manager pod running now, as a byte stream (for the tunnel's HTTP/2). */
  readonly dial: () => PortForwardStream;
  /** The pod the last forward went to. */
  readonly pod: () => ManagerPod | undefined;
  close(): Promise<void>;
}

export async function openManagerForward(
  kc: KubeConfig,
  namespace: string,
  log: Logger,
): Promise<ManagerForward> {
  let current = await findManagerPod(kc, namespace);
  await requirePortForward(kc, namespace, current.name);
  const sockets = new Set<net.Socket>();
  const dial = (): PortForwardStream => {
    const stream = new PortForwardStream((message) =>
      log.warn({ pod: current.name, message }, 'the port-forward to the traffic-manager failed'),
    );
    stream.on('error', (e: Error) =>
      log.warn({ err: e.message, pod: current.name }, 'port-forward to the traffic-manager failed'),
    );
    return stream.open(
      findManagerPod(kc, namespace)
        .then((pod) => {
          current = pod;
          const path = `/api/v1/namespaces/${namespace}/pods/${pod.name}/portforward?ports=${pod.port}`;
          return openPortForwardWebSocket(kc, path, (channel, data) => stream.received(channel, data));
        })
        .catch((e: unknown) => {
          reportIfUnauthorized(kc, e); // the credential may need a refresh
          throw e;
        }),
    );
  };
  // noDelay: gRPC's small frames (a dial, its DialOK) must not wait for the ACK of earlier ones (Nagle).
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const stream = dial();
    socket.pipe(stream).pipe(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => stream.destroy());
    stream.on('error', () => socket.destroy());
    stream.on('close', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  log.info({ pod: current.name, namespace, localPort: port }, 'port-forward to the traffic-manager ready');
  return {
    address: `127.0.0.1:${port}`,
    dial,
    pod: () => current,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The channel protocols client-node offers; the API server picks one (v5 can half-close a channel).
const CHANNEL_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];

/**
 * Opens a port-forward WebSocket to the API server of the kubeconfig's current cluster, with its
 * credentials and CA; every binary message goes to onMessage as (channel, payload).
 */
async function openPortForwardWebSocket(
  kc: KubeConfig,
  path: string,
  onMessage: (channel: number, data: Buffer) => boolean,
): Promise<WebSocket> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig has no current cluster');
  const options: https.RequestOptions & WebSocket.ClientOptions = {};
  await kc.applyToHTTPSOptions(options);
  Object.assign(options, maskingOptions(server));
  const ws = new WebSocket(`${server.replace(/^http/, 'ws')}${path}`, CHANNEL_PROTOCOLS, options);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary && data.length > 0 && !onMessage(data[0]!, data.subarray(1))) ws.close();
  });
  return new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      // The body is a Status; its message names what is missing (e.g. the pods/portforward permission).
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let message = `HTTP ${res.statusCode ?? '?'}`;
        try {
          const status = JSON.parse(body) as { message?: unknown };
          if (typeof status.message === 'string')
            message = `${status.message} (HTTP ${res.statusCode ?? '?'})`;
        } catch {
          // not a Status
        }
        reject(new Error(`the API server refused the port-forward: ${message}`));
        ws.terminate();
      });
    });
  });
}

/**
 * WebSocket masking guards proxies that would read a script's bytes as plaintext; inside TLS no proxy
 * reads them, and an all-zero key lets ws send each message as it is instead of copying and XOR-ing it.
 */
export function maskingOptions(server: string): WebSocket.ClientOptions {
  return server.startsWith('https:') ? { generateMask: (mask: Buffer) => mask.fill(0) } : {};
}

/** What PortForwardStream needs of a ws WebSocket. */
export interface ForwardWebSocket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: Buffer, callback?: (err?: Error) => void): void;
  pause(): void;
  resume(): void;
  close(): void;
  on(event: 'close' | 'error', listener: () => void): unknown;
}

const DATA_CHANNEL = 0; // port 0's data; channel 1 carries its errors as text
const ERROR_CHANNEL = 1;
const CLOSE_STREAM = 255;
/** A write completes at once while the WebSocket holds at most this much unsent; later ones wait for it. */
const WS_HIGH_WATER = 1 << 20;

/**
 * One port-forward WebSocket as a byte stream to the pod's port: the channel protocol of client-node and
 * the API server (a channel byte in front of every message, the port number first on each channel), with
 * back-pressure both ways. Writes made before the WebSocket is open wait for it; 'connect' says it is.
 * The tunnel's HTTP/2 runs straight on it; the gRPC channel reaches it through a loopback listener.
 * (client-node's PortForward ignores back-pressure, zero-fills a copy of every chunk, and ends the
 * process's stdout when the API server closes channel 1.)
 */
export class PortForwardStream extends Duplex {
  private ws: ForwardWebSocket | undefined;
  private readonly sawPort = [false, false];
  /** A write's completion, held while the WebSocket holds more than WS_HIGH_WATER unsent. */
  private heldWrite: ((err?: Error | null) => void) | undefined;
  /** The write or the end that came before the WebSocket opened (Writable makes at most one at a time). */
  private beforeOpen: { run: () => void; callback: (err?: Error | null) => void } | undefined;
  private wsPaused = false;

  constructor(private readonly onError: (message: string) => void) {
    super({ allowHalfOpen: true, writableHighWaterMark: 256 * 1024 });
  }

  /** Starts on the WebSocket once it is open; a failure to open destroys the stream with its error. */
  open(opening: Promise<ForwardWebSocket>): this {
    opening.then(
      (ws) => this.attach(ws),
      (e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e))),
    );
    return this;
  }

  private attach(ws: ForwardWebSocket): void {
    if (this.destroyed) return ws.close();
    this.ws = ws;
    ws.on('close', () => this.destroy());
    ws.on('error', () => this.destroy());
    this.emit('connect');
    const waiting = this.beforeOpen;
    this.beforeOpen = undefined;
    waiting?.run();
  }

  /** A message from the WebSocket (channel byte already taken off); false closes the WebSocket. */
  received(channel: number, data: Buffer): boolean {
    if (channel === DATA_CHANNEL || channel === ERROR_CHANNEL) {
      if (!this.sawPort[channel]) {
        this.sawPort[channel] = true;
        data = data.subarray(2); // the port number, little-endian
        if (data.length === 0) return true;
      }
      if (channel === ERROR_CHANNEL) {
        const message = data.toString('utf8');
        this.onError(message);
        this.destroy(new Error(`the port-forward failed: ${message}`));
        return false;
      }
      if (!this.push(data) && !this.wsPaused) {
        this.wsPaused = true;
        this.ws?.pause();
      }
      return true;
    }
    // CLOSE_STREAM for our data channel (the pod's side ended) or a channel we did not ask for.
    this.push(null);
    return channel === CLOSE_STREAM;
  }

  override _read(): void {
    if (!this.wsPaused) return;
    this.wsPaused = false;
    this.ws?.resume();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const ws = this.ws;
    if (ws === undefined) {
      this.beforeOpen = { run: () => this._writev(chunks, callback), callback };
      return;
    }
    let length = 1;
    for (const c of chunks) length += c.chunk.length;
    const message = Buffer.allocUnsafe(length);
    message[0] = DATA_CHANNEL;
    let at = 1;
    for (const c of chunks) at += c.chunk.copy(message, at);
    this.heldWrite = callback;
    ws.send(message, () => this.releaseWrite());
    this.releaseWrite();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    const ws = this.ws;
    if (ws === undefined) {
      this.beforeOpen = { run: () => this._final(callback), callback };
      return;
    }
    // v5 can half-close a channel; older protocols only close the whole WebSocket.
    if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([CLOSE_STREAM, DATA_CHANNEL]));
    else ws.close();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.ws?.close();
    const held = this.heldWrite ?? this.beforeOpen?.callback;
    this.heldWrite = undefined;
    this.beforeOpen = undefined;
    held?.(err ?? new Error('the port-forward closed'));
    callback(err);
  }

  /** Completes the held write once the WebSocket has room. */
  private releaseWrite(): void {
    const held = this.heldWrite;
    if (held === undefined || this.ws === undefined || this.ws.bufferedAmount > WS_HIGH_WATER) return;
    this.heldWrite = undefined;
    held();
  }
}
