// What the application's TCP told us it already holds beyond the cumulative ACK (SACK blocks, RFC 2018),
// so the sender retransmits every hole within one round trip instead of one hole per round trip.
import { seqDiff } from './segment.js';

export class SackScoreboard {
  /** Sorted, disjoint [start, end) pairs in sequence space. */
  private ranges: number[] = [];
  /** End of the hole the last nextHole() found. */
  holeEnd = 0;

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  clear(): void {
    this.ranges = [];
  }

  /** Adds the SACK blocks found in TCP options buf[off, end); blocks outside [una, max] are ignored. */
  addFromOptions(buf: Buffer, off: number, end: number, una: number, max: number): void {
    let i = off;
    while (i < end) {
      const kind = buf[i]!;
      if (kind === 0) return;
      if (kind === 1) {
        i++;
        continue;
      }
      if (i + 1 >= end) return;
      const len = buf[i + 1]!;
      if (len < 2 || i + len > end) return;
      if (kind === 5) {
        for (let b = i + 2; b + 8 <= i + len; b += 8) {
          const s = buf.readUInt32BE(b);
          const e = buf.readUInt32BE(b + 4);
          if (seqDiff(e, s) > 0 && seqDiff(s, una) >= 0 && seqDiff(e, max) <= 0) this.add(s, e);
        }
      }
      i += len;
    }
  }

  add(start: number, end: number): void {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && seqDiff(r[i]!, start) < 0) i += 2;
    r.splice(i, 0, start, end);
    const merged: number[] = [];
    for (let j = 0; j < r.length; j += 2) {
      const s = r[j]!;
      const e = r[j + 1]!;
      const n = merged.length;
      if (n > 0 && seqDiff(s, merged[n - 1]!) <= 0) {
        if (seqDiff(e, merged[n - 1]!) > 0) merged[n - 1] = e;
      } else merged.push(s, e);
    }
    this.ranges = merged;
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
