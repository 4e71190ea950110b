// `telepresence connect | head -1`: once the reader is gone, writing to the pipe fails with EPIPE. Like
// other Unix tools the CLI then ends quietly (status 0, nothing on stderr) instead of crashing with a
// stack trace. Other write errors are left to the default handling.
export interface WritableLike {
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
}

export function endQuietlyOnEpipe(streams: readonly WritableLike[], exit: (code: number) => void): void {
  for (const s of streams) {
    s.on('error', (err) => {
      if (err.code === 'EPIPE') exit(0);
      else throw err;
    });
  }
}
