// What the application's TCP told us it already holds beyond the cumulative ACK (SACK blocks, RFC 2018),
// so the sender retransmits every hole within one round trip instead of one hole per round trip.
import { forEachTcpOption, seqDiff } from './segment.js';

export class SackScoreboard {
  /** Sorted, disjoint [start, end) pairs in sequence space. */
  private readonly ranges: number[] = [];
  /** End of the hole the last nextHole() found. */
  holeEnd = 0;

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  clear(): void {
    this.ranges.length = 0;
  }

  /** Adds the SACK blocks found in TCP options buf[off, end); blocks outside [una, max] are ignored. */
  addFromOptions(buf: Buffer, off: number, end: number, una: number, max: number): void {
    forEachTcpOption(buf, off, end, (kind, at, len) => {
      if (kind !== 5) return;
      for (let b = at + 2; b + 8 <= at + len; b += 8) {
        const s = buf.readUInt32BE(b);
        const e = buf.readUInt32BE(b + 4);
        if (seqDiff(e, s) > 0 && seqDiff(s, una) >= 0 && seqDiff(e, max) <= 0) this.add(s, e);
      }
    });
  }

  /** Adds [start, end), merged in place with every range it overlaps or touches. */
  add(start: number, end: number): void {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && seqDiff(r[i + 1]!, start) < 0) i += 2;
    let j = i;
    for (; j < r.length && seqDiff(r[j]!, end) <= 0; j += 2) {
      if (seqDiff(r[j]!, start) < 0) start = r[j]!;
      if (seqDiff(r[j + 1]!, end) > 0) end = r[j + 1]!;
    }
    r.splice(i, j - i, start, end);
  }

  /** Forgets what the cumulative ACK now covers. */
  ackedTo(una: number): void {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && seqDiff(r[i + 1]!, una) <= 0) i += 2;
    if (i > 0) r.splice(0, i);
    if (r.length > 0 && seqDiff(r[0]!, una) < 0) r[0] = una;
  }

  /**
   * Start of the first hole at or after `from` that lies below a SACKed range (its end in holeEnd), or -1
   * when there is none: data above the highest SACKed byte is not known to be lost.
   */
  nextHole(from: number): number {
    let s = from;
    const r = this.ranges;
    for (let j = 0; j < r.length; j += 2) {
      if (seqDiff(s, r[j + 1]!) >= 0) continue;
      if (seqDiff(s, r[j]!) < 0) {
        this.holeEnd = r[j]!;
        return s;
      }
      s = r[j + 1]!;
    }
    return -1;
  }
}
