// The lines of resolv.conf(5) that name lookups depend on, as written; callers normalize what they use.

export interface ResolvConfLines {
  /** Each `nameserver` line's address, in order. */
  readonly nameservers: readonly string[];
  /** The last `search` or `domain` line's words. */
  readonly search: readonly string[];
  /** `options ndots:N` (at most 15, like glibc); 1 when absent. */
  readonly ndots: number;
}

/** Parses resolv.conf text; comments (# or ;) and unknown lines are ignored, as libc does. */
export function readResolvConf(text: string): ResolvConfLines {
  const nameservers: string[] = [];
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] !== undefined) nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') search = rest;
    else if (key === 'options') {
      for (const opt of rest) {
        const m = /^ndots:(\d+)$/.exec(opt);
        if (m?.[1] !== undefined) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { nameservers, search, ndots };
}
