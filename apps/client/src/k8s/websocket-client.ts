// The WebSocket client (RFC 6455) of port-forwards. A port-forward's messages are pieces of a byte stream,
// so a binary message's bytes are handed on as they arrive, as views of what the socket read: the ws
// library assembles each message first, a copy of every byte of a message that spans TLS reads (all of a
// bulk download: 7% of the client daemon's CPU, issue 15). Sends are masked with the all-zero key inside
// TLS (masking guards proxies that would read a script's bytes as plaintext; no proxy reads inside TLS),
// so a message's pieces go out as they are, without a copy.
//
// What it speaks: the handshake with one of the offered subprotocols, binary and text messages (text ones
// are handed on as bytes too), fragmentation, ping (answered with pong), pong, close (answered, then the
// socket ends). It refuses what a server must not send (masked frames, reserved bits, no extension was
// negotiated) by closing the connection with an error that says what came.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** Where a message's bytes go: start, then its bytes in pieces (views of what the socket read), then end. */
export interface MessageSink {
  /** A message begins: binary, or text (its bytes are handed on all the same). */
  onMessageStart(binary: boolean): void;
  onMessageData(bytes: Buffer): void;
  onMessageEnd(): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const MAX_CONTROL_PAYLOAD = 125;
/** Larger frames than any server sends a port-forward; a bigger length is garbage. */
const MAX_FRAME_BYTES = 2 ** 32;
const ZERO_MASK = Buffer.alloc(4);

export class WebSocketProtocolError extends Error {
  override readonly name = 'WebSocketProtocolError';
}

/**
 * Splits the server's bytes into frames: data to the sink as it comes, control frames to `control`.
 * Throws WebSocketProtocolError for what a server must not send; the reader is then unusable.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(10);
  private headerFill = 0;
  private headerNeed = 2;
  private payloadLeft = 0;
  private inPayload = false;
  private opcode = 0;
  private fin = false;
  /** Inside a data message (its frames may be interleaved with control frames). */
  private inMessage = false;
  private controlPieces: Buffer[] = [];

  constructor(
    private readonly sink: MessageSink,
    private readonly control: (opcode: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.inPayload) {
        const n = Math.min(this.payloadLeft, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        at += n;
        this.payloadLeft -= n;
        if (this.opcode >= OP_CLOSE) this.controlPieces.push(piece);
        else if (n > 0) this.sink.onMessageData(piece);
        if (this.payloadLeft === 0) this.endFrame();
        continue;
      }
      const n = Math.min(this.headerNeed - this.headerFill, chunk.length - at);
      chunk.copy(this.header, this.headerFill, at, at + n);
      this.headerFill += n;
      at += n;
      if (this.headerFill === 2) this.headerNeed = this.headerLength();
      if (this.headerFill === this.headerNeed) this.startFrame();
    }
  }

  /** The whole header's length, from its first two bytes. */
  private headerLength(): number {
    const b1 = this.header[1]!;
    if ((b1 & 0x80) !== 0) throw new WebSocketProtocolError('the server sent a masked WebSocket frame');
    const len7 = b1 & 0x7f;
    return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  }

  private startFrame(): void {
    const b0 = this.header[0]!;
    const len7 = this.header[1]! & 0x7f;
    const length =
      len7 === 126
        ? this.header.readUInt16BE(2)
        : len7 === 127
          ? this.header.readUInt32BE(2) * 2 ** 32 + this.header.readUInt32BE(6)
          : len7;
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0)
      throw new WebSocketProtocolError('the server set reserved WebSocket bits (no extension was agreed)');
    if (length > MAX_FRAME_BYTES)
      throw new WebSocketProtocolError(`the server sent a WebSocket frame of ${length} bytes`);
    if (this.opcode >= OP_CLOSE) {
      if (this.opcode !== OP_CLOSE && this.opcode !== OP_PING && this.opcode !== OP_PONG)
        throw new WebSocketProtocolError(`the server sent WebSocket opcode ${this.opcode}`);
      if (!this.fin || length > MAX_CONTROL_PAYLOAD)
        throw new WebSocketProtocolError('the server sent a fragmented or oversize WebSocket control frame');
    } else if (this.opcode === OP_CONTINUATION) {
      if (!this.inMessage)
        throw new WebSocketProtocolError('the server continued a WebSocket message it never began');
    } else if (this.opcode === OP_TEXT || this.opcode === OP_BINARY) {
      if (this.inMessage)
        throw new WebSocketProtocolError('the server began a WebSocket message inside another');
      this.inMessage = true;
      this.sink.onMessageStart(this.opcode === OP_BINARY);
    } else {
      throw new WebSocketProtocolError(`the server sent WebSocket opcode ${this.opcode}`);
    }
    this.headerFill = 0;
    this.headerNeed = 2;
    this.payloadLeft = length;
    this.inPayload = true;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    this.inPayload = false;
    if (this.opcode >= OP_CLOSE) {
      const pieces = this.controlPieces;
      this.controlPieces = [];
      this.control(this.opcode, pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
      return;
    }
    if (!this.fin) return;
    this.inMessage = false;
    this.sink.onMessageEnd();
  }
}

/** A frame's header with the mask key, for a payload of `length` bytes. */
function frameHeader(opcode: number, length: number, mask: Buffer): Buffer {
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const h = Buffer.allocUnsafe(2 + extra + 4);
  h[0] = 0x80 | opcode;
  if (extra === 0) h[1] = 0x80 | length;
  else if (extra === 2) {
    h[1] = 0x80 | 126;
    h.writeUInt16BE(length, 2);
  } else {
    h[1] = 0x80 | 127;
    h.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    h.writeUInt32BE(length >>> 0, 6);
  }
  mask.copy(h, 2 + extra);
  return h;
}

/**
 * One open WebSocket on the socket the handshake gave (what PortForwardStream needs: ForwardWebSocket).
 * It reads nothing before start(), so that no message comes before its user is ready for it.
 */
export class WebSocketConnection extends EventEmitter {
  private readonly reader: FrameReader;
  private closeSent = false;
  private started = false;

  constructor(
    private readonly socket: Duplex,
    readonly protocol: string,
    sink: MessageSink,
    /** Inside TLS: the all-zero mask key, so payloads go out as they are. */
    private readonly zeroMask: boolean,
  ) {
    super();
    this.reader = new FrameReader(sink, (op, payload) => this.onControl(op, payload));
    socket.pause();
    socket.on('end', () => socket.end());
    // Reported to a listener if there is one; 'close' follows either way.
    socket.on('error', (e: Error) => this.listenerCount('error') > 0 && this.emit('error', e));
    socket.on('close', () => this.emit('close'));
  }

  /** Starts reading messages. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    this.socket.resume();
  }

  /** Bytes written and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Sends one binary message made of `pieces` (not copied inside TLS: do not change them after). */
  send(pieces: readonly Buffer[], callback?: (err?: Error | null) => void): void {
    let length = 0;
    for (const p of pieces) length += p.length;
    const mask = this.zeroMask ? ZERO_MASK : randomBytes(4);
    const socket = this.socket;
    socket.cork();
    socket.write(frameHeader(OP_BINARY, length, mask));
    if (!this.zeroMask) socket.write(masked(Buffer.concat(pieces, length), mask), callback);
    else
      for (let i = 0; i < pieces.length; i++)
        socket.write(pieces[i]!, i === pieces.length - 1 ? callback : undefined);
    socket.uncork();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (this.started) this.socket.resume();
  }

  /** Sends a close frame (normal closure) and ends the socket. */
  close(): void {
    this.sendClose(Buffer.from([0x03, 0xe8]));
    this.socket.end();
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) this.sendControl(OP_PONG, payload);
    else if (opcode === OP_CLOSE) {
      this.sendClose(payload.subarray(0, 2)); // echo the status code
      this.socket.end();
    }
  }

  private sendClose(status: Buffer): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.sendControl(OP_CLOSE, status);
  }

  private sendControl(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    const mask = this.zeroMask ? ZERO_MASK : randomBytes(4);
    this.socket.write(Buffer.concat([frameHeader(opcode, payload.length, mask), masked(payload, mask)]));
  }

  private fail(e: Error): void {
    this.sendClose(Buffer.from([0x03, 0xea])); // protocol error
    this.socket.destroy(e);
  }
}

/** `data` XOR-ed with the mask key (a copy; `data` itself when the key is all zeros). */
function masked(data: Buffer, mask: Buffer): Buffer {
  if (mask.equals(ZERO_MASK)) return data;
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ mask[i & 3]!;
  return out;
}

/** Why the server did not upgrade: its status and the body it sent (a Kubernetes Status, usually). */
export class UpgradeRefusedError extends Error {
  override readonly name = 'UpgradeRefusedError';
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(`HTTP ${statusCode}`);
  }
}

/**
 * Opens a WebSocket to `url` (http: or https:) with `options` (CA, client certificate, headers such as
 * authorization: what KubeConfig.applyToHTTPSOptions makes), offering `protocols`. Resolves once the
 * server switched protocols; rejects with UpgradeRefusedError if it answered anything else.
 */
export function openWebSocket(
  url: string,
  protocols: readonly string[],
  options: https.RequestOptions,
  sink: MessageSink,
  /** Mask with the all-zero key (payloads go out as they are): inside TLS only, by default. */
  zeroMask = url.startsWith('https:'),
): Promise<WebSocketConnection> {
  const key = randomBytes(16).toString('base64');
  const secure = url.startsWith('https:');
  const req = (secure ? https : http).request(url, {
    ...options,
    headers: {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Protocol': protocols.join(', '),
    },
  });
  return new Promise<WebSocketConnection>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length + body.length <= 64 * 1024 ? c : ''));
      res.on('end', () => reject(new UpgradeRefusedError(res.statusCode ?? 0, body)));
      res.on('error', reject);
    });
    req.once('upgrade', (res, socket, head) => {
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const protocol = String(res.headers['sec-websocket-protocol'] ?? '');
      const problem =
        res.headers['sec-websocket-accept'] !== accept
          ? 'a wrong Sec-WebSocket-Accept'
          : !protocols.includes(protocol)
            ? `subprotocol "${protocol}", which was not offered`
            : res.headers['sec-websocket-extensions'] !== undefined
              ? `extensions that were not offered (${String(res.headers['sec-websocket-extensions'])})`
              : undefined;
      if (problem !== undefined) {
        socket.destroy();
        reject(new WebSocketProtocolError(`the server upgraded to a WebSocket with ${problem}`));
        return;
      }
      socket.setNoDelay?.(true);
      const ws = new WebSocketConnection(socket, protocol, sink, zeroMask);
      if (head.length > 0) socket.unshift(head);
      resolve(ws);
    });
    req.end();
  });
}
