// pods/portforward over WebSocket (channel protocols v4/v5.channel.k8s.io and portforward.k8s.io, as
// @kubernetes/client-node speaks them): for port i, channel 2i carries data and 2i+1 errors; each
// channel's first server message is the port number, 2 bytes little-endian.
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, badRequest } from './errors.js';
import { field, str, type KubeObject } from './object.js';
import { serveSpdyPortForward, upgradeResponse } from './spdy.js';

/** Opens a TCP connection to a port of a pod (from where the pod network is reachable). */
export type PodDialer = (pod: KubeObject, port: number) => net.Socket;

/** Stop reading a pod's socket while the WebSocket holds this much unsent; resume below a quarter. */
const WS_HIGH_WATER = 1 << 20;
const supported = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'portforward.k8s.io', 'channel.k8s.io'];
const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) => supported.find((p) => protocols.has(p)) ?? false,
});

export function handlePortForwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  pod: KubeObject,
  portParams: string[],
  dial: PodDialer,
  log?: (msg: string) => void,
): void {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  if (String(req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1') {
    if (str(field(pod, 'status', 'phase')) !== 'Running' || !str(field(pod, 'status', 'podIP'))) {
      throw new ApiError(400, 'BadRequest', `pod ${pod.metadata.name ?? ''} is not running`);
    }
    socket.write(upgradeResponse());
    serveSpdyPortForward(socket, head, (port) => dial(pod, port), log);
    return;
  }
  if (offered.includes('SPDY/3.1+portforward.k8s.io') && !supported.some((p) => offered.includes(p))) {
    // kubectl's tunneled SPDY: refuse with 400 so it falls back.
    throw badRequest('unable to upgrade: SPDY over WebSocket tunneling is not supported by devcluster');
  }
  const ports = portParams.flatMap((p) => p.split(',')).map(Number);
  if (ports.length === 0 || ports.some((p) => !(p > 0 && p < 65536))) {
    throw badRequest('query parameter "ports" is required and must be a list of ports 1-65535');
  }
  if (str(field(pod, 'status', 'phase')) !== 'Running' || !str(field(pod, 'status', 'podIP'))) {
    throw new ApiError(400, 'BadRequest', `pod ${pod.metadata.name ?? ''} does not have a host assigned`);
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    serve(ws, pod, ports, dial, log);
  });
}

function serve(
  ws: WebSocket,
  pod: KubeObject,
  ports: number[],
  dial: PodDialer,
  log?: (msg: string) => void,
): void {
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  const conns = ports.map((port, i) => {
    const hdr = Buffer.from([0, port & 255, port >> 8]);
    ws.send(Buffer.concat([Buffer.from([2 * i]), hdr.subarray(1)]));
    ws.send(Buffer.concat([Buffer.from([2 * i + 1]), hdr.subarray(1)]));
    const sock = dial(pod, port);
    let pausedForWs = false;
    sock.on('data', (d: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      const message = Buffer.allocUnsafe(d.length + 1);
      message[0] = 2 * i;
      d.copy(message, 1);
      ws.send(message, () => {
        if (pausedForWs && ws.bufferedAmount <= WS_HIGH_WATER / 4) {
          pausedForWs = false;
          sock.resume();
        }
      });
      // Like the kubelet's stream copy: a slow client slows the pod's socket instead of filling memory.
      if (ws.bufferedAmount > WS_HIGH_WATER && !pausedForWs) {
        pausedForWs = true;
        sock.pause();
      }
    });
    sock.on('error', (err) => {
      log?.(`portforward ${pod.metadata.name ?? ''}:${port}: ${err.message}`);
      const msg = `error forwarding port ${port} to pod ${pod.metadata.name ?? ''}: ${err.message}`;
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(msg)]));
      ws.close();
    });
    sock.on('end', () => {
      if (v5 && ws.readyState === ws.OPEN) ws.send(Buffer.from([255, 2 * i]));
      ws.close();
    });
    return sock;
  });
  let wsPaused = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const buf = isBinary ? data : Buffer.from(data.toString(), 'utf8');
    if (buf.length === 0) return;
    const ch = buf[0] ?? 0;
    if (ch === 255 && v5) {
      const target = buf[1] ?? 0;
      conns[target >> 1]?.end();
      return;
    }
    const conn = conns[ch >> 1];
    if (conn && ch % 2 === 0 && buf.length > 1 && !conn.write(buf.subarray(1)) && !wsPaused) {
      wsPaused = true;
      ws.pause();
      conn.once('drain', () => {
        wsPaused = false;
        ws.resume();
      });
    }
  });
  ws.on('close', () => {
    for (const c of conns) c.destroy();
  });
  ws.on('error', () => {
    for (const c of conns) c.destroy();
  });
}
