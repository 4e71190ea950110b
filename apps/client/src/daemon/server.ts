// The Daemon gRPC service on a unix socket that only its owner (and root) may use: the socket is 0600 and
// belongs to the owner; the run dir is root's, 0755, so that any user's CLI can tell "no daemon" (no socket)
// from "another user's daemon" (EACCES on the socket); every file in it is 0600. A second daemon for the same run dir refuses to start while the first answers.
import fs from 'node:fs/promises';
import net from 'node:net';
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { DaemonService, type DaemonServer, type daemon } from '@telepresence/rpc';
import type { DaemonPaths } from './paths.js';

export interface DaemonController {
  version(): daemon.VersionResponse;
  connect(req: daemon.ConnectRequest, progress: (step: string) => void): Promise<daemon.StatusResponse>;
  status(): daemon.StatusResponse;
  /** Disconnects; the daemon exits after the reply is sent. */
  quit(): Promise<void>;
  list?(namespace: string): Promise<daemon.ListResponse>;
  intercept?(req: daemon.InterceptRequest): Promise<daemon.InterceptResponse>;
  leave?(name: string): Promise<void>;
  setLogLevel?(req: daemon.SetLogLevelRequest): Promise<daemon.SetLogLevelResponse>;
}

/** A unary handler over a controller method; errors cross as errorText (category, message, hint). */
function handled<Req, Res>(fn: ((req: Req) => Promise<Res>) | undefined, name: string) {
  if (fn === undefined) return unimplemented(name);
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
    fn(call.request).then(
      (res) => cb(null, res),
      (e: unknown) => cb({ code: status.FAILED_PRECONDITION, details: errorText(e) }, null),
    );
  };
}

/** True when something accepts connections on the socket. */
export function socketAnswers(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function prepareRunDir(runDir: string): Promise<void> {
  await fs.mkdir(runDir, { recursive: true, mode: 0o755 });
  await fs.chmod(runDir, 0o755);
}

function unimplemented(name: string) {
  return (_call: unknown, callback: sendUnaryData<never>): void =>
    callback({ code: status.UNIMPLEMENTED, details: `${name} is not available yet` }, null);
}

/** Gives the daemon's owner (the user who started it through sudo) its socket and its log (both 0600). */
export async function shareWithOwner(paths: DaemonPaths, owner: { uid: number; gid: number }): Promise<void> {
  await fs.chmod(paths.logFile, 0o600).catch(() => undefined);
  if (owner.uid === 0) return;
  await fs.chown(paths.socket, owner.uid, owner.gid);
  await fs.chown(paths.logFile, owner.uid, owner.gid).catch(() => undefined);
}

export async function serveDaemon(
  paths: DaemonPaths,
  controller: DaemonController,
  onQuit: () => void,
  owner: { uid: number; gid: number } = { uid: 0, gid: 0 },
): Promise<Server> {
  await prepareRunDir(paths.runDir);
  if (await socketAnswers(paths.socket)) {
    throw new Error(`a daemon is already running on ${paths.socket}`);
  }
  await fs.rm(paths.socket, { force: true });
  const impl: DaemonServer = {
    version: (
      _call: ServerUnaryCall<daemon.VersionRequest, daemon.VersionResponse>,
      cb: sendUnaryData<daemon.VersionResponse>,
    ) => cb(null, controller.version()),
    connect: (call: ServerWritableStream<daemon.ConnectRequest, daemon.ConnectProgress>) => {
      controller
        .connect(call.request, (step) => call.write({ step, done: false, error: '', status: undefined }))
        .then((st) => call.write({ step: 'Connected', done: true, error: '', status: st }))
        .catch((e: unknown) => call.write({ step: '', done: true, error: errorText(e), status: undefined }))
        .finally(() => call.end());
    },
    status: (
      _call: ServerUnaryCall<daemon.StatusRequest, daemon.StatusResponse>,
      cb: sendUnaryData<daemon.StatusResponse>,
    ) => cb(null, controller.status()),
    quit: (
      _call: ServerUnaryCall<daemon.QuitRequest, daemon.QuitResponse>,
      cb: sendUnaryData<daemon.QuitResponse>,
    ) => {
      controller
        .quit()
        .then(() => cb(null, {}))
        .catch((e: unknown) => cb({ code: status.INTERNAL, details: errorText(e) }, null))
        .finally(onQuit);
    },
    list: handled(controller.list && ((r: daemon.ListRequest) => controller.list!(r.namespace)), 'list'),
    intercept: handled(
      controller.intercept && ((r: daemon.InterceptRequest) => controller.intercept!(r)),
      'intercept',
    ),
    leave: handled(
      controller.leave && ((r: daemon.LeaveRequest) => controller.leave!(r.name).then(() => ({}))),
      'leave',
    ),
    setLogLevel: handled(
      controller.setLogLevel && ((r: daemon.SetLogLevelRequest) => controller.setLogLevel!(r)),
      'setLogLevel',
    ),
  };
  const server = new Server();
  server.addService(DaemonService, impl);
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${paths.socket}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  } finally {
    process.umask(oldMask);
  }
  await fs.chmod(paths.socket, 0o600);
  await shareWithOwner(paths, owner);
  return server;
}

/** Errors cross the socket as "category\tmessage\thint" so the CLI can present them. */
export function errorText(e: unknown): string {
  const err = e as { category?: string; message?: string; hint?: string };
  return [err.category ?? 'internal', err.message ?? String(e), err.hint ?? ''].join('\t');
}
