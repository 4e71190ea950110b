// The client's version, in a module of its own: `telepresence version` must not load the daemon's code.
export const CLIENT_VERSION = '0.1.0';

/** Whether this client can work with a manager (or daemon) of version `other`: same major, and for 0.x the same minor. */
export function compatibleVersion(other: string, mine: string = CLIENT_VERSION): boolean {
  const parse = (v: string): [number, number] | undefined => {
    const m = /^v?(\d+)\.(\d+)/.exec(v);
    return m === null ? undefined : [Number(m[1]), Number(m[2])];
  };
  const a = parse(other);
  const b = parse(mine);
  if (a === undefined || b === undefined) return false;
  return a[0] === b[0] && (a[0] !== 0 || a[1] === b[1]);
}
