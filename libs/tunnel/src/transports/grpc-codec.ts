// A faster, wire-identical protobuf codec for `common.v1.TunnelMessage { bytes payload = 1; }`.
// The generated (ts-proto) codec copies every payload three to four times per message (writer growth,
// finish(), Buffer.from) and once more on decode; this one copies once on encode and not at all on
// decode. Both produce and accept the same bytes, so peers may mix them freely.
import {
  makeGenericClientConstructor,
  type ChannelCredentials,
  type ClientOptions,
  type MethodDefinition,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { Frame } from '../protocol/frame.js';
import type { TunnelMessageLike } from './grpc-channel.js';

export function serializeTunnelMessage(m: TunnelMessageLike): Buffer {
  // Frames built by dataFrameWire, or received whole, are already in wire form: no copy.
  if (m.wire !== undefined) return m.wire;
  const len = m.payload.length;
  if (len === 0) return Buffer.alloc(0); // proto3: an empty bytes field is not written
  const { out, size } = withHeader(len);
  m.payload.copy(out, size);
  return out;
}

/**
 * @internal A DATA tunnel frame (code byte + chunk) laid out as a serialized TunnelMessage, with one
 * copy of the chunk. `frame` is the tunnel frame, a view into `wire`.
 */
export function dataFrameWire(chunk: Uint8Array): { frame: Buffer; wire: Buffer } {
  const len = chunk.length + 1;
  const { out: wire, size } = withHeader(len);
  wire[size] = 0; // MessageCode.DATA
  wire.set(chunk, size + 1);
  return { frame: wire.subarray(size), wire };
}

/**
 * @internal The message to hand grpc-js for a frame: its wire form when it has one (no copy), else the
 * frame itself, or a DATA frame's data copied once into a message (grpc-js writes one buffer per message).
 */
export function tunnelMessageOf(frame: Frame): TunnelMessageLike {
  const { bytes, wire } = frame;
  if (wire === undefined) {
    if (bytes !== undefined) return { payload: bytes };
    const made = dataFrameWire(frame.data.length === 1 ? frame.data[0]! : Buffer.concat(frame.data));
    return { payload: made.frame, wire: made.wire };
  }
  if (Buffer.isBuffer(wire))
    return { payload: bytes ?? wire.subarray(wire.length - frame.dataBytes - 1), wire };
  const joined = Buffer.concat(wire);
  return { payload: joined.subarray(joined.length - frame.dataBytes - 1), wire: joined };
}

/**
 * @internal What precedes `n` data bytes in a serialized DATA TunnelMessage (tag, varint length, code
 * byte), after `room` bytes left free for the caller.
 */
export function dataMessageHeader(n: number, room: number): Buffer {
  const len = n + 1;
  const size = 1 + varintSize(len);
  const out = Buffer.allocUnsafe(room + size + 1);
  writeFieldHeader(out, room, len);
  out[room + size] = 0; // MessageCode.DATA
  return out;
}

/**
 * @internal The inverse of dataMessageHeader for a serialized message given in pieces: the data bytes
 * (views, no copy), or undefined when the pieces are not exactly one `payload` field holding a DATA frame
 * whose header lies in the first piece.
 */
export function dataOfMessagePieces(pieces: Buffer[]): Buffer[] | undefined {
  const first = pieces[0]!;
  if (first[0] !== 0x0a) return undefined;
  let len = 0;
  let at = 1;
  for (let scale = 1; ; scale *= 0x80) {
    const b = first[at++];
    if (b === undefined || at > 4) return undefined; // over 3 bytes (2 MiB): the joined, checked path
    len += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) break;
  }
  let total = 0;
  for (const p of pieces) total += p.length;
  if (at >= first.length || total !== at + len || first[at] !== 0 /* MessageCode.DATA */) return undefined;
  return at + 1 < first.length ? [first.subarray(at + 1), ...pieces.slice(1)] : pieces.slice(1);
}

/**
 * @internal Room to leave in front of a read buffer so that any read of up to MAX_IN_PLACE_DATA bytes
 * can become a serialized DATA TunnelMessage in place: tag, 3-byte varint length, code byte.
 */
export const DATA_HEADROOM = 5;
/** @internal Largest data length whose payload length (data + code byte) fits a 3-byte varint. */
export const MAX_IN_PLACE_DATA = 0x1fffff - 1;

/**
 * @internal A DATA frame made in place, without a copy: `buf` holds `n` bytes of data at
 * DATA_HEADROOM; the header is written just in front of them. The frame and its wire form are views
 * into `buf`, which the caller must not reuse.
 */
export function dataFrameInPlace(buf: Buffer, n: number): Frame {
  if (n > MAX_IN_PLACE_DATA) throw new RangeError(`${n} bytes do not fit an in-place DATA frame`);
  const len = n + 1;
  const start = DATA_HEADROOM - 2 - varintSize(len);
  writeFieldHeader(buf, start, len);
  buf[DATA_HEADROOM - 1] = 0; // MessageCode.DATA
  const end = DATA_HEADROOM + n;
  return Frame.of(buf.subarray(DATA_HEADROOM - 1, end), buf.subarray(start, end));
}

/** A buffer for a `payload` field of len bytes, the field header (tag, length) written. */
function withHeader(len: number): { out: Buffer; size: number } {
  const size = 1 + varintSize(len);
  const out = Buffer.allocUnsafe(size + len);
  writeFieldHeader(out, 0, len);
  return { out, size };
}

/** Writes the `payload` field header (tag, varint length len) at `at`; takes 1 + varintSize(len) bytes. */
function writeFieldHeader(buf: Buffer, at: number, len: number): void {
  buf[at] = 0x0a; // field 1, wire type 2 (length-delimited)
  let v = len;
  let i = at + 1;
  while (v >= 0x80) {
    buf[i++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[i] = v;
}

/** Decodes without copying the payload; skips unknown fields; throws on malformed protobuf. */
export function deserializeTunnelMessage(b: Buffer): TunnelMessageLike {
  let payload: Buffer = Buffer.alloc(0);
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (let k = 0; k < 8; k++) {
      const byte = b[pos++];
      if (byte === undefined) throw new Error('TunnelMessage: truncated varint');
      v += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return v;
      scale *= 0x80;
    }
    throw new Error('TunnelMessage: varint too long');
  };
  while (pos < b.length) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 2) {
      const len = varint();
      if (pos + len > b.length) throw new Error('TunnelMessage: truncated field');
      if (tag === 0x0a) payload = b.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`TunnelMessage: unsupported wire type ${wire}`);
    if (pos > b.length) throw new Error('TunnelMessage: truncated field');
  }
  // A message that is exactly one payload field is its own wire form: forwarding it needs no copy.
  const offset = payload.byteOffset - b.byteOffset;
  const len = payload.length;
  if (len > 0 && b[0] === 0x0a && offset === 1 + varintSize(len) && offset + len === b.length)
    return { payload, wire: b };
  return { payload };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}

/**
 * Returns a copy of a grpc-js service definition (ManagerService, AgentService) whose `tunnel` method
 * uses the fast codec. Use it on both `server.addService(...)` and `makeGenericClientConstructor(...)`.
 */
export function withFastTunnelCodec<S extends ServiceDefinition>(service: S): S {
  const tunnel = (service as Record<string, MethodDefinition<unknown, unknown>>)['tunnel'];
  if (tunnel === undefined) return service;
  return {
    ...service,
    tunnel: {
      ...tunnel,
      requestSerialize: serializeTunnelMessage,
      requestDeserialize: deserializeTunnelMessage,
      responseSerialize: serializeTunnelMessage,
      responseDeserialize: deserializeTunnelMessage,
    },
  };
}

/**
 * A client class for a generated service (ManagerService, AgentService) whose `tunnel` method uses the
 * fast codec: `new (fastTunnelClient<ManagerClient>(ManagerService, 'telepresence.manager.v1.Manager'))(...)`.
 */
export function fastTunnelClient<C>(
  service: ServiceDefinition,
  serviceName: string,
): new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C {
  return makeGenericClientConstructor(withFastTunnelCodec(service), serviceName) as unknown as new (
    address: string,
    creds: ChannelCredentials,
    options?: Partial<ClientOptions>,
  ) => C;
}
