// The two places libs/tunnel reaches into a grpc-js Server (pinned 1.14): the options its HTTP/2
// servers are made with, and the method that makes them. grpc-js has no public way to set HTTP/2
// windows or to serve one method on node:http2 directly. When the members are gone (another grpc-js),
// the hooks change nothing and return false; flow-control.spec.ts and http2-channel.spec.ts then fail.
import type { Server } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Socket } from 'node:net';
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream, ServerOptions } from 'node:http2';
import type { FrameChannel } from '../protocol/channel.js';
import { DEFAULT_MAX_MESSAGE_BYTES, http2ServerChannel } from './http2-channel.js';

interface ServerInternals {
  commonServerOptions?: ServerOptions;
  createHttp2Server?: (credentials: unknown) => Http2Server;
}

/**
 * Runs `onServer` on every HTTP/2 server the grpc-js server makes (one per bound address), before
 * grpc-js attaches its own handlers. Call before bindAsync. False if grpc-js's internals are not there.
 */
export function onHttp2Servers(
  server: Server,
  onServer: (http2Server: Http2Server) => void,
  options?: (common: ServerOptions) => void,
): boolean {
  const internals = server as unknown as ServerInternals;
  const common = internals.commonServerOptions;
  const create = internals.createHttp2Server;
  if (typeof common !== 'object' || typeof create !== 'function') return false;
  options?.(common);
  internals.createHttp2Server = (credentials) => {
    const http2Server = create.call(server, credentials);
    onServer(http2Server);
    return http2Server;
  };
  return true;
}

/**
 * Serves the gRPC method at `path` (e.g. MANAGER_TUNNEL_PATH) on node:http2 directly, as FrameChannels,
 * ahead of grpc-js: its calls bypass grpc-js's call machinery (the data path of every tunneled byte).
 * Every other method, and the connection itself (keep-alives, shutdown), stays with grpc-js. Keep the
 * method registered with grpc-js too: it serves it if this returns false.
 */
export function serveTunnelCalls(
  server: Server,
  path: string,
  onChannel: (channel: FrameChannel, headers: IncomingHttpHeaders) => void,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): boolean {
  return onHttp2Servers(server, (http2Server) => {
    // Tunnel frames are small and interactive (a dial, its DialOK): never held back for an ACK (Nagle).
    http2Server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    // grpc-js listens to the server's 'stream' event; a Tunnel stream is taken before it is emitted.
    const emit = http2Server.emit;
    http2Server.emit = function (this: Http2Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'stream' && (args[1] as IncomingHttpHeaders)[':path'] === path) {
        const stream = args[0] as ServerHttp2Stream;
        const headers = args[1] as IncomingHttpHeaders;
        // A call that takes more flows (call-reuse.ts): each is served as a call of its own.
        const recycle = (next: () => FrameChannel): void => onChannel(next(), headers);
        if (acceptable(stream, headers))
          onChannel(http2ServerChannel(stream, maxMessageBytes, undefined, headers, recycle), headers);
        return true;
      }
      return emit.call(this, event, ...args);
    } as typeof http2Server.emit;
  });
}

function ignore(): void {}

/** Refuses what is not a plain gRPC call (as grpc-js would); true if the call can be served. */
function acceptable(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
  stream.on('error', ignore); // a reset before the channel starts is not the server's problem
  const contentType = headers['content-type'] ?? '';
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    stream.respond({ ':status': 415 }, { endStream: true });
    return false;
  }
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(GrpcStatus.UNIMPLEMENTED),
        'grpc-message': encodeURI(`grpc-encoding ${String(encoding)} is not supported for tunnel calls`),
      },
      { endStream: true },
    );
    return false;
  }
  return true;
}
