// The CLI's side of the daemon socket: find it, start the daemon if needed, and call it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { DaemonClient, type daemon } from '@telepresence/rpc';
import type { DaemonPaths } from '../daemon/paths.js';
import { prepareRunDir, socketAnswers } from '../daemon/server.js';
import { TpError } from '../util/errors.js';
import { selfCommand } from '../util/self-command.js';
import { startDaemonThroughSudo } from './elevation.js';

export function openDaemonClient(paths: DaemonPaths): DaemonClient {
  return new DaemonClient(`unix:${paths.socket}`, credentials.createInsecure());
}

/** Whether the daemon answers; a daemon this user may not use is an error saying so. */
export async function isDaemonRunning(paths: DaemonPaths): Promise<boolean> {
  if (await socketAnswers(paths.socket)) return true;
  if (socketDenied(paths.socket))
    throw new TpError('user', `permission denied: the daemon at ${paths.socket} belongs to another user`, {
      hint: 'only the user who connected (and root) can use it; they can run telepresence quit',
    });
  return false;
}

function socketDenied(socket: string): boolean {
  try {
    fs.accessSync(socket, fs.constants.W_OK);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EACCES';
  }
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts the root daemon detached and waits until it serves. */
export async function startDaemon(
  paths: DaemonPaths,
  mainScript: string,
  env: NodeJS.ProcessEnv,
  isRoot: boolean,
): Promise<void> {
  if (!isRoot) {
    await startDaemonThroughSudo(paths, mainScript, env, process.stdin.isTTY === true);
    // The daemon gives this user its socket right after binding it: wait for that.
    const deadline = Date.now() + 5000;
    while (!(await socketAnswers(paths.socket, 300)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    return;
  }
  await prepareRunDir(paths.runDir);
  const [command, args] = selfCommand(mainScript, ['daemon-foreground']);
  const child = spawn(command, args, {
    detached: true,
    stdio: 'ignore',
    env: { ...env, TELEPRESENCE_RUN_DIR: paths.runDir },
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await socketAnswers(paths.socket, 300)) return;
    if (exited !== undefined) {
      const last = tail(paths.logFile, 3);
      throw new TpError(
        'internal',
        `the daemon exited (code ${exited}) before serving${last ? `: ${last.split('\n').pop() ?? ''}` : ''}`,
        {
          hint: `see ${paths.logFile}`,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TpError('internal', `the daemon did not start serving on ${paths.socket} in time`, {
    hint: `see ${paths.logFile}`,
  });
}

function unary<Req, Res>(
  fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) =>
      err
        ? reject(new TpError('internal', `daemon: ${err.details || err.message}`, { cause: err }))
        : resolve(res),
    );
  });
}

export function daemonStatus(client: DaemonClient): Promise<daemon.StatusResponse> {
  return unary((req: daemon.StatusRequest, cb) => client.status(req, cb), {});
}

export function daemonQuit(client: DaemonClient): Promise<daemon.QuitResponse> {
  return unary((req: daemon.QuitRequest, cb) => client.quit(req, cb), {});
}

/** Streams Connect; calls onStep for progress; resolves with the final message. */
export function daemonConnect(
  client: DaemonClient,
  req: daemon.ConnectRequest,
  onStep: (step: string) => void,
): Promise<daemon.ConnectProgress> {
  return new Promise((resolve, reject) => {
    const call = client.connect(req);
    let last: daemon.ConnectProgress | undefined;
    call.on('data', (m: daemon.ConnectProgress) => {
      if (m.done) last = m;
      else onStep(m.step);
    });
    call.on('error', (err: ServiceError) =>
      reject(new TpError('internal', `daemon: ${err.details || err.message}`, { cause: err })),
    );
    call.on('end', () =>
      last ? resolve(last) : reject(new TpError('internal', 'the daemon ended the connect without a result')),
    );
  });
}

/** Waits until the daemon's socket stops answering (it exits after Quit). */
export async function waitForExit(paths: DaemonPaths, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await socketAnswers(paths.socket, 200))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
