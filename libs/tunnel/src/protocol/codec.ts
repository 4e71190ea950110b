// Tunnel frame codec: the bytes inside `TunnelMessage.payload`. The first byte is the message code, the
// rest the body. Integers are unsigned LEB128 varints; strings are varint length + UTF-8.
//
//  code  message      body
//  0     DATA         raw L4 payload (one socket read chunk, or exactly one UDP datagram)
//  1     OPEN         version, minVersion, dialTimeoutMs, roundtripLatencyMs, connId, sessionId
//  2     OPEN_OK      version (the version the answering peer will speak)
//  3     CLOSE_SEND   empty: "no more data from me" (TCP FIN); the other direction keeps flowing
//  4     DIAL_OK      empty: the remote dial succeeded
//  5     DIAL_REJECT  reason code (e.g. ECONNREFUSED, ETIMEDOUT), human message
//  6     DISCONNECT   reason: hard close, the sender sends nothing more
//  7     KEEP_ALIVE   empty: resets the receiver's idle timer
//  8     SESSION      session id: an agent names the client session a flow belongs to (inbound)
import { ConnId, ConnIdError } from './connid.js';

export const MessageCode = {
  DATA: 0,
  OPEN: 1,
  OPEN_OK: 2,
  CLOSE_SEND: 3,
  DIAL_OK: 4,
  DIAL_REJECT: 5,
  DISCONNECT: 6,
  KEEP_ALIVE: 7,
  SESSION: 8,
} as const;

export type Message =
  | { readonly type: 'data'; readonly data: Buffer }
  | {
      readonly type: 'open';
      readonly version: number;
      readonly minVersion: number;
      readonly id: ConnId;
      readonly sessionId: string;
      readonly dialTimeoutMs: number;
      readonly roundtripLatencyMs: number;
    }
  | { readonly type: 'open-ok'; readonly version: number }
  | { readonly type: 'close-send' }
  | { readonly type: 'dial-ok' }
  | { readonly type: 'dial-reject'; readonly reason: string; readonly message: string }
  | { readonly type: 'disconnect'; readonly reason: string }
  | { readonly type: 'keep-alive' }
  | { readonly type: 'session'; readonly sessionId: string };

export type MessageType = Message['type'];

export type FrameErrorCode =
  'empty' | 'unknown-code' | 'truncated' | 'oversize' | 'trailing-bytes' | 'bad-field';

/** A frame that cannot be decoded. The stream that received it ends; other streams are unaffected. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Longest string field (session id, reason, message) in bytes. */
export const MAX_STRING_BYTES = 1024;
/** Default largest frame accepted: 1 MiB of data plus the code byte. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024 + 1;

const CODE_TO_TYPE: readonly MessageType[] = [
  'data',
  'open',
  'open-ok',
  'close-send',
  'dial-ok',
  'dial-reject',
  'disconnect',
  'keep-alive',
  'session',
];

const EMPTY_FRAMES = {
  'close-send': Buffer.of(MessageCode.CLOSE_SEND),
  'dial-ok': Buffer.of(MessageCode.DIAL_OK),
  'keep-alive': Buffer.of(MessageCode.KEEP_ALIVE),
};

/** DATA frame for a chunk: one copy, the code byte in front. */
export function encodeData(chunk: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(chunk.length + 1);
  frame[0] = MessageCode.DATA;
  frame.set(chunk, 1);
  return frame;
}

export function encodeMessage(msg: Message): Buffer {
  switch (msg.type) {
    case 'data':
      return encodeData(msg.data);
    case 'close-send':
    case 'dial-ok':
    case 'keep-alive':
      return EMPTY_FRAMES[msg.type];
    case 'open': {
      const w = new Writer(MessageCode.OPEN);
      w.uint(msg.version);
      w.uint(msg.minVersion);
      w.uint(msg.dialTimeoutMs);
      w.uint(msg.roundtripLatencyMs);
      w.bytes(msg.id.toBytes());
      w.string(msg.sessionId);
      return w.finish();
    }
    case 'open-ok': {
      const w = new Writer(MessageCode.OPEN_OK);
      w.uint(msg.version);
      return w.finish();
    }
    case 'dial-reject': {
      const w = new Writer(MessageCode.DIAL_REJECT);
      w.string(msg.reason);
      w.string(msg.message);
      return w.finish();
    }
    case 'disconnect': {
      const w = new Writer(MessageCode.DISCONNECT);
      w.string(msg.reason);
      return w.finish();
    }
    case 'session': {
      const w = new Writer(MessageCode.SESSION);
      w.string(msg.sessionId);
      return w.finish();
    }
  }
}

/**
 * Decodes one frame. DATA bodies are views into `frame` (no copy). Throws FrameError for anything
 * malformed: empty, unknown code, truncated or trailing bytes, a field out of range, larger than
 * maxFrameBytes.
 */
export function decodeMessage(frame: Buffer, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Message {
  if (frame.length === 0) throw new FrameError('empty', 'empty tunnel frame (no message code)');
  if (frame.length > maxFrameBytes) {
    throw new FrameError(
      'oversize',
      `tunnel frame of ${frame.length} bytes exceeds the limit of ${maxFrameBytes}`,
    );
  }
  const code = frame[0]!;
  const type = CODE_TO_TYPE[code];
  if (type === undefined) throw new FrameError('unknown-code', `unknown tunnel message code ${code}`);
  if (type === 'data') return { type, data: frame.subarray(1) };
  const r = new Reader(frame, type);
  let msg: Message;
  switch (type) {
    case 'close-send':
    case 'dial-ok':
    case 'keep-alive':
      msg = { type };
      break;
    case 'open': {
      const version = r.uint('version');
      const minVersion = r.uint('minVersion');
      const dialTimeoutMs = r.uint('dialTimeoutMs');
      const roundtripLatencyMs = r.uint('roundtripLatencyMs');
      const idBytes = r.bytes('connId', 64);
      let id: ConnId;
      try {
        id = ConnId.fromBytes(idBytes);
      } catch (e: unknown) {
        if (e instanceof ConnIdError) throw new FrameError('bad-field', `OPEN: ${e.message}`, { cause: e });
        throw e;
      }
      const sessionId = r.string('sessionId');
      msg = { type, version, minVersion, dialTimeoutMs, roundtripLatencyMs, id, sessionId };
      break;
    }
    case 'open-ok':
      msg = { type, version: r.uint('version') };
      break;
    case 'dial-reject':
      msg = { type, reason: r.string('reason'), message: r.string('message') };
      break;
    case 'disconnect':
      msg = { type, reason: r.string('reason') };
      break;
    case 'session':
      msg = { type, sessionId: r.string('sessionId') };
      break;
  }
  r.done();
  return msg;
}

/** Name of a message code for logs and errors, e.g. `DIAL_REJECT`. */
export function messageName(type: MessageType): string {
  return type.replace('-', '_').toUpperCase();
}

class Writer {
  private readonly parts: number[] = [];
  private readonly chunks: Buffer[] = [];
  constructor(code: number) {
    this.parts.push(code);
  }
  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${n} as an unsigned varint`);
    while (n >= 0x80) {
      this.parts.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.parts.push(n);
  }
  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.flush();
    this.chunks.push(Buffer.from(b));
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length > MAX_STRING_BYTES)
      throw new RangeError(`string of ${b.length} bytes exceeds ${MAX_STRING_BYTES}`);
    this.bytes(b);
  }
  private flush(): void {
    if (this.parts.length > 0) this.chunks.push(Buffer.from(this.parts.splice(0)));
  }
  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

class Reader {
  private pos = 1;
  constructor(
    private readonly buf: Buffer,
    private readonly type: MessageType,
  ) {}
  uint(field: string): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw this.truncated(field);
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(n)) break;
        return n;
      }
      scale *= 0x80;
    }
    throw new FrameError('bad-field', `${messageName(this.type)}: ${field} is not a valid varint`);
  }
  bytes(field: string, max: number): Buffer {
    const len = this.uint(field);
    if (len > max)
      throw new FrameError('bad-field', `${messageName(this.type)}: ${field} of ${len} bytes exceeds ${max}`);
    if (this.pos + len > this.buf.length) throw this.truncated(field);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  string(field: string): string {
    const b = this.bytes(field, MAX_STRING_BYTES);
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) {
      throw new FrameError('bad-field', `${messageName(this.type)}: ${field} is not valid UTF-8`);
    }
    return s;
  }
  done(): void {
    if (this.pos !== this.buf.length) {
      throw new FrameError(
        'trailing-bytes',
        `${messageName(this.type)}: ${this.buf.length - this.pos} unexpected bytes after the message`,
      );
    }
  }
  private truncated(field: string): FrameError {
    return new FrameError('truncated', `${messageName(this.type)} frame truncated while reading ${field}`);
  }
}
