// Unacknowledged + unsent bytes of one TCP connection, kept as the writer's chunks (no re-copying): bytes
// are dropped from the front when acknowledged and copied out by offset when (re)sent.

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // index of the first live chunk
  private headOffset = 0; // bytes of chunks[head] already consumed
  private total = 0;
  // Cursor cache: the chunk holding stream offset `cursorStart` (relative to the queue's front).
  private cursorIndex = 0;
  private cursorStart = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Drops n bytes from the front. */
  consume(n: number): void {
    if (n > this.total) n = this.total;
    this.total -= n;
    this.cursorStart -= n;
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const left = c.length - this.headOffset;
      if (n < left) {
        this.headOffset += n;
        break;
      }
      n -= left;
      this.chunks[this.head] = EMPTY;
      this.head++;
      this.headOffset = 0;
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.cursorIndex -= this.head;
      this.head = 0;
    }
    if (this.cursorIndex < this.head || this.cursorStart < 0) {
      this.cursorIndex = this.head;
      this.cursorStart = -this.headOffset;
    }
  }

  /** Copies len bytes starting at offset (from the front) into dst at dstOff. */
  copyOut(offset: number, len: number, dst: Uint8Array, dstOff: number): void {
    // Start from the cached cursor when it is at or before offset (the usual sequential send).
    let idx: number;
    let start: number; // stream offset of chunks[idx][0] relative to the front
    if (this.cursorIndex >= this.head && this.cursorStart <= offset) {
      idx = this.cursorIndex;
      start = this.cursorStart;
    } else {
      idx = this.head;
      start = -this.headOffset;
    }
    let c = this.chunks[idx]!;
    while (start + c.length <= offset) {
      start += c.length;
      idx++;
      c = this.chunks[idx]!;
    }
    this.cursorIndex = idx;
    this.cursorStart = start;
    let pos = offset - start;
    while (len > 0) {
      const n = Math.min(len, c.length - pos);
      c.copy(dst, dstOff, pos, pos + n);
      dstOff += n;
      len -= n;
      if (len === 0) break;
      idx++;
      c = this.chunks[idx]!;
      pos = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.total = 0;
    this.cursorIndex = 0;
    this.cursorStart = 0;
  }
}

const EMPTY = Buffer.alloc(0);
