// Connection ids: a compact binary name for one L4 flow (protocol, source ip:port, destination ip:port).
//
// Layout (same as the Go original, so ids are easy to compare in logs and captures):
//   IPv4: src(4) | srcPort(2, BE) | dst(4) | dstPort(2, BE) | proto(1)    = 13 bytes
//   IPv6: src(16) | srcPort(2, BE) | dst(16) | dstPort(2, BE) | proto(1)  = 37 bytes
// proto is the IP protocol number (TCP 6, UDP 17). Unlike the original, both ends must have the same
// address family: a flow cannot mix them, and rejecting it keeps decode(encode(x)) === x.
import { ipTextFromBytes, ipTextToBytes } from '@telepresence/subnets';

export type Protocol = 'tcp' | 'udp';

export interface Endpoint {
  /** Textual IP address: dotted quad or RFC 5952 IPv6. */
  readonly ip: string;
  readonly port: number;
}

/** A ConnId's bytes as a latin1 string: cheap, immutable and usable as a Map key. */
export type ConnIdKey = string & { readonly __brand: 'ConnIdKey' };

export type ConnIdErrorCode = 'bad-length' | 'bad-protocol' | 'bad-address' | 'bad-port' | 'mixed-family';

export class ConnIdError extends Error {
  override readonly name = 'ConnIdError';
  constructor(
    readonly code: ConnIdErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const PROTO_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17 };
const IPV4_LEN = 13;
const IPV6_LEN = 37;

export class ConnId {
  /** Map key form of the id (see ConnIdKey). */
  readonly key: ConnIdKey;

  private constructor(
    readonly protocol: Protocol,
    readonly source: Endpoint,
    readonly destination: Endpoint,
    readonly family: 4 | 6,
    private readonly bytes: Buffer,
  ) {
    this.key = bytes.toString('latin1') as ConnIdKey;
  }

  /** Builds an id; throws ConnIdError for a bad address, port, or mixed address families. */
  static of(protocol: Protocol, source: Endpoint, destination: Endpoint): ConnId {
    if (protocol !== 'tcp' && protocol !== 'udp') {
      throw new ConnIdError('bad-protocol', `unknown protocol ${String(protocol)}: use tcp or udp`);
    }
    const { bytes: src, text: srcText } = knownAddress(source.ip);
    const { bytes: dst, text: dstText } = knownAddress(destination.ip);
    if (src.length !== dst.length) {
      throw new ConnIdError(
        'mixed-family',
        `source ${source.ip} and destination ${destination.ip} are of different address families`,
      );
    }
    checkPort(source.port);
    checkPort(destination.port);
    const n = src.length;
    const bytes = Buffer.allocUnsafe(2 * n + 5);
    src.copy(bytes, 0);
    bytes.writeUInt16BE(source.port, n);
    dst.copy(bytes, n + 2);
    bytes.writeUInt16BE(destination.port, 2 * n + 2);
    bytes[2 * n + 4] = PROTO_NUMBER[protocol];
    return new ConnId(
      protocol,
      { ip: srcText, port: source.port },
      { ip: dstText, port: destination.port },
      n === 4 ? 4 : 6,
      bytes,
    );
  }

  /** Decodes the wire form; throws ConnIdError when the bytes are not a valid id. */
  static fromBytes(input: Uint8Array): ConnId {
    const bytes = Buffer.from(input); // copy: the id must not change under its key
    if (bytes.length !== IPV4_LEN && bytes.length !== IPV6_LEN) {
      throw new ConnIdError(
        'bad-length',
        `connection id must be ${IPV4_LEN} (IPv4) or ${IPV6_LEN} (IPv6) bytes, got ${bytes.length}`,
      );
    }
    const n = bytes.length === IPV4_LEN ? 4 : 16;
    const protoNumber = bytes[2 * n + 4]!;
    const protocol = protoNumber === 6 ? 'tcp' : protoNumber === 17 ? 'udp' : undefined;
    if (protocol === undefined) {
      throw new ConnIdError(
        'bad-protocol',
        `connection id has IP protocol ${protoNumber}: only tcp (6) and udp (17)`,
      );
    }
    return new ConnId(
      protocol,
      { ip: bytesToIp(bytes.subarray(0, n)), port: bytes.readUInt16BE(n) },
      { ip: bytesToIp(bytes.subarray(n + 2, 2 * n + 2)), port: bytes.readUInt16BE(2 * n + 2) },
      n === 4 ? 4 : 6,
      bytes,
    );
  }

  /** Decodes a key made by `.key`. */
  static fromKey(key: ConnIdKey): ConnId {
    return ConnId.fromBytes(Buffer.from(key, 'latin1'));
  }

  /** A copy of the wire form. */
  toBytes(): Buffer {
    return Buffer.from(this.bytes);
  }

  /** The id of the answering direction: source and destination swapped. */
  reply(): ConnId {
    return ConnId.of(this.protocol, this.destination, this.source);
  }

  equals(other: ConnId): boolean {
    return this.key === other.key;
  }

  /** `tcp 198.18.1.5:40000 -> 198.19.0.20:80` (IPv6 addresses in brackets). */
  toString(): string {
    return `${this.protocol} ${endpointString(this.source)} -> ${endpointString(this.destination)}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function endpointString(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * Addresses seen lately: their wire bytes (never written to) and RFC 5952 text. A client's flows repeat a
 * few addresses (its own, a few pods'), and parsing and formatting both ends took a tenth of the client's
 * time from a SYN to its OPEN (issue 15).
 */
const knownAddresses = new Map<string, { readonly bytes: Buffer; readonly text: string }>();
const KNOWN_ADDRESSES_MAX = 1024;

function knownAddress(ip: string): { readonly bytes: Buffer; readonly text: string } {
  let known = knownAddresses.get(ip);
  if (known === undefined) {
    const bytes = ipToBytes(ip);
    known = { bytes, text: bytesToIp(bytes) };
    if (knownAddresses.size >= KNOWN_ADDRESSES_MAX) knownAddresses.clear();
    knownAddresses.set(ip, known);
  }
  return known;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new ConnIdError('bad-port', `port ${port} is not an integer in 0..65535`);
  }
}

/** @internal IPv4 -> 4 bytes, IPv6 -> 16 bytes (libs/subnets' conversion, with ConnIdError). */
export function ipToBytes(ip: string): Buffer {
  try {
    return ipTextToBytes(ip);
  } catch {
    throw new ConnIdError('bad-address', `${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
}

/** @internal 4 or 16 bytes -> text (RFC 5952: lowercase, longest zero run compressed). */
export const bytesToIp: (bytes: Uint8Array) => string = ipTextFromBytes;
