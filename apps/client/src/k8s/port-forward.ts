// Reaches the traffic-manager through a Kubernetes port-forward: a loopback listener whose every accepted
// connection becomes one port-forward WebSocket to the manager pod's API port. The pod is looked up again
// for each new connection, so when the forward breaks (pod restarted, API server hiccup) gRPC's own
// reconnect gets a fresh forward to whatever pod is running now.
import net from 'node:net';
import { Writable } from 'node:stream';
import { CoreV1Api, PortForward, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { TpError } from '../util/errors.js';

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
      throw new TpError('cluster', `listing pods in namespace "${namespace}": ${(e as Error).message}`, {
        hint: 'check that the cluster is reachable and that you may list pods there',
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

export interface ManagerForward {
  /** 127.0.0.1:port for the gRPC client. */
  readonly address: string;
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
  const forward = new PortForward(kc);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    void (async () => {
      try {
        current = await findManagerPod(kc, namespace);
        // client-node keeps writing after the pod side went away and ignores write()'s return value: write
        // through a small adapter that drops late writes and waits for the socket (bounded buffering).
        const output = new Writable({
          highWaterMark: 1 << 20,
          write(chunk: Buffer, _encoding, callback) {
            if (socket.writable) socket.write(chunk, () => callback());
            else callback();
          },
          final(callback) {
            socket.end();
            callback();
          },
        });
        const ws = await forward.portForward(namespace, current.name, [current.port], output, null, socket);
        const wsObj = typeof ws === 'function' ? ws() : ws;
        wsObj?.on('close', () => socket.destroy());
        wsObj?.on('error', () => socket.destroy());
        socket.on('close', () => wsObj?.close());
      } catch (e) {
        log.warn(
          { err: (e as Error).message, pod: current.name },
          'port-forward to the traffic-manager failed',
        );
        socket.destroy();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  log.info({ pod: current.name, namespace, localPort: port }, 'port-forward to the traffic-manager ready');
  return {
    address: `127.0.0.1:${port}`,
    pod: () => current,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
