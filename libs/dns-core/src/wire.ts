// The query parser and response writer of the server's hot path. Queries are parsed by hand (not with
// dns-packet) so that every hostile input has one defined outcome and a cache hit costs one small copy:
// a response is header + the query's own question bytes (so the ID and the question's letter case are
// preserved) + pre-encoded answers whose owner names point back at the question (0xC00C).
import { Rcode } from './types.js';

/** Largest query we read; anything longer is not a query a stub resolver sends. */
export const MAX_QUERY_BYTES = 4096;
const HEADER_BYTES = 12;
const TYPE_OPT = 41;
const CLASS_IN = 1;

export interface Edns {
  /** The requester's UDP payload size (RFC 6891; values below 512 count as 512). */
  readonly udpPayload: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

export interface ParsedQuery {
  readonly kind: 'query';
  readonly id: number;
  /** Flags byte 2 of the query (opcode and RD are echoed). */
  readonly flags2: number;
  readonly checkingDisabled: boolean;
  /** The name as sent (letter case kept), without the trailing dot; "" for the root. */
  readonly name: string;
  readonly qtype: number;
  readonly qclass: number;
  /** Offset just after the question: bytes [12, questionEnd) are copied into the response. */
  readonly questionEnd: number;
  readonly edns: Edns | undefined;
}

/** A message that gets an error response (id and flags echoed, no sections besides the question if known). */
export interface RejectedQuery {
  readonly kind: 'reject';
  readonly id: number;
  readonly flags2: number;
  readonly rcode: number;
  readonly reason: string;
  /** Set when the question itself was readable, so it can be echoed. */
  readonly question?: ParsedQuery;
}

/** A message that gets no response at all (too short to answer, or a response: answering could loop). */
export interface DroppedMessage {
  readonly kind: 'drop';
  readonly reason: string;
}

export type QueryParseResult = ParsedQuery | RejectedQuery | DroppedMessage;

/** Where readName assembles a name's text: one string per name instead of one per label (hot path). */
const nameScratch = Buffer.allocUnsafe(256);

function readName(buf: Buffer, start: number): { name: string; end: number } | string {
  let offset = start;
  let total = 0;
  let out = 0;
  for (;;) {
    if (offset >= buf.length) return 'name runs past the end of the message';
    const len = buf[offset]!;
    offset++;
    if (len === 0) break;
    if ((len & 0xc0) !== 0) return 'compression pointer or bad label type in the question';
    if (offset + len > buf.length) return 'label runs past the end of the message';
    total += len + 1;
    if (total > 254) return 'name longer than 255 bytes';
    if (out > 0) nameScratch[out++] = 0x2e;
    for (let i = offset; i < offset + len; i++) {
      const c = buf[i]!;
      // Printable ASCII without the dot and backslash: anything else could not round-trip as text.
      if (c < 0x21 || c > 0x7e || c === 0x2e || c === 0x5c)
        return 'label with a dot, backslash or non-printable byte';
      nameScratch[out++] = c;
    }
    offset += len;
  }
  return { name: nameScratch.toString('latin1', 0, out), end: offset };
}

/** Skips a (possibly compressed) owner name in the additional section; returns the offset after it. */
function skipName(buf: Buffer, start: number): number {
  let offset = start;
  for (let labels = 0; labels < 128; labels++) {
    if (offset >= buf.length) return -1;
    const len = buf[offset]!;
    if (len === 0) return offset + 1;
    if ((len & 0xc0) === 0xc0) return offset + 2 <= buf.length ? offset + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    offset += 1 + len;
  }
  return -1;
}

/** Parses one DNS query. Never throws. */
export function parseQuery(buf: Buffer): QueryParseResult {
  if (buf.length < HEADER_BYTES) return { kind: 'drop', reason: 'shorter than a DNS header' };
  const id = buf.readUInt16BE(0);
  const flags2 = buf[2]!;
  if ((flags2 & 0x80) !== 0) return { kind: 'drop', reason: 'a response, not a query' };
  const reject = (rcode: number, reason: string, question?: ParsedQuery): RejectedQuery =>
    question
      ? { kind: 'reject', id, flags2, rcode, reason, question }
      : { kind: 'reject', id, flags2, rcode, reason };
  if (buf.length > MAX_QUERY_BYTES) return reject(Rcode.FORMERR, `larger than ${MAX_QUERY_BYTES} bytes`);
  const opcode = (flags2 >> 3) & 0x0f;
  if (opcode !== 0) return reject(Rcode.NOTIMP, `opcode ${opcode} is not supported`);
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (qdcount !== 1) return reject(Rcode.FORMERR, `${qdcount} questions; exactly one is supported`);
  if (ancount !== 0 || nscount !== 0)
    return reject(Rcode.FORMERR, 'a query with answer or authority records');
  const qname = readName(buf, HEADER_BYTES);
  if (typeof qname === 'string') return reject(Rcode.FORMERR, qname);
  let offset = qname.end;
  if (offset + 4 > buf.length) return reject(Rcode.FORMERR, 'question runs past the end of the message');
  const qtype = buf.readUInt16BE(offset);
  const qclass = buf.readUInt16BE(offset + 2);
  offset += 4;
  const questionEnd = offset;
  let edns: Edns | undefined;
  let badEdns: string | undefined;
  for (let i = 0; i < arcount; i++) {
    const nameStart = offset;
    offset = skipName(buf, offset);
    if (offset < 0 || offset + 10 > buf.length)
      return reject(Rcode.FORMERR, 'additional record runs past the end');
    const type = buf.readUInt16BE(offset);
    const rdlength = buf.readUInt16BE(offset + 8);
    if (type === TYPE_OPT) {
      if (edns !== undefined) badEdns = 'more than one OPT record';
      else if (buf[nameStart] !== 0) badEdns = 'OPT record with a non-root owner';
      edns = {
        udpPayload: Math.max(512, buf.readUInt16BE(offset + 2)),
        version: buf[offset + 5]!,
        dnssecOk: (buf[offset + 6]! & 0x80) !== 0,
      };
    }
    offset += 10 + rdlength;
    if (offset > buf.length) return reject(Rcode.FORMERR, 'additional record data runs past the end');
  }
  if (offset !== buf.length)
    return reject(Rcode.FORMERR, `${buf.length - offset} bytes after the last record`);
  const query: ParsedQuery = {
    kind: 'query',
    id,
    flags2,
    checkingDisabled: (buf[3]! & 0x10) !== 0,
    name: qname.name,
    qtype,
    qclass,
    questionEnd,
    edns,
  };
  if (badEdns !== undefined) return reject(Rcode.FORMERR, badEdns, query);
  if (edns !== undefined && edns.version !== 0)
    return reject(Rcode.BADVERS, `EDNS version ${edns.version}`, query);
  if (qclass !== CLASS_IN) return reject(Rcode.REFUSED, `class ${qclass} is not served`, query);
  return query;
}

/** Pre-encoded records of one section plus their count. */
export interface EncodedSection {
  readonly bytes: Buffer;
  readonly count: number;
}

export const EMPTY_SECTION: EncodedSection = { bytes: Buffer.alloc(0), count: 0 };

export interface ResponseOptions {
  readonly rcode: number;
  readonly answers?: EncodedSection;
  readonly authorities?: EncodedSection;
  readonly additionals?: EncodedSection;
  readonly authoritative?: boolean;
  readonly recursionAvailable?: boolean;
  /** Largest message the transport takes: the UDP limit of this query, or 65535 on TCP. */
  readonly maxBytes: number;
  /** Our own advertised EDNS payload size. */
  readonly ednsPayload: number;
}

/** The most a UDP response to this query may be (RFC 6891 6.2.5): 512 without EDNS. */
export function udpLimit(query: ParsedQuery, ourMax: number): number {
  return query.edns ? Math.max(512, Math.min(query.edns.udpPayload, ourMax)) : 512;
}

const OPT_BYTES = 11;

/**
 * Writes the response to a query. When it would exceed `maxBytes` the answer sections are dropped and TC
 * is set, so the client retries over TCP.
 */
export function writeResponse(query: Buffer, parsed: ParsedQuery, opts: ResponseOptions): Buffer {
  const answers = opts.answers ?? EMPTY_SECTION;
  const authorities = opts.authorities ?? EMPTY_SECTION;
  const additionals = opts.additionals ?? EMPTY_SECTION;
  const questionBytes = parsed.questionEnd - HEADER_BYTES;
  const optBytes = parsed.edns ? OPT_BYTES : 0;
  let size =
    HEADER_BYTES +
    questionBytes +
    answers.bytes.length +
    authorities.bytes.length +
    additionals.bytes.length +
    optBytes;
  const truncated = size > opts.maxBytes;
  if (truncated) size = HEADER_BYTES + questionBytes + optBytes;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(parsed.id, 0);
  out[2] = 0x80 | (parsed.flags2 & 0x79) | (opts.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0);
  out[3] = (opts.recursionAvailable ? 0x80 : 0) | (parsed.checkingDisabled ? 0x10 : 0) | (opts.rcode & 0x0f);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(truncated ? 0 : answers.count, 6);
  out.writeUInt16BE(truncated ? 0 : authorities.count, 8);
  out.writeUInt16BE((truncated ? 0 : additionals.count) + (parsed.edns ? 1 : 0), 10);
  let offset = HEADER_BYTES + query.copy(out, HEADER_BYTES, HEADER_BYTES, parsed.questionEnd);
  if (!truncated) {
    offset += answers.bytes.copy(out, offset);
    offset += authorities.bytes.copy(out, offset);
    offset += additionals.bytes.copy(out, offset);
  }
  if (parsed.edns) writeOpt(out, offset, opts.ednsPayload, opts.rcode, parsed.edns.dnssecOk);
  return out;
}

function writeOpt(out: Buffer, offset: number, payload: number, rcode: number, dnssecOk: boolean): void {
  out[offset] = 0; // root owner
  out.writeUInt16BE(TYPE_OPT, offset + 1);
  out.writeUInt16BE(payload, offset + 3);
  out[offset + 5] = (rcode >> 4) & 0xff; // extended rcode
  out[offset + 6] = 0; // version
  out[offset + 7] = dnssecOk ? 0x80 : 0;
  out[offset + 8] = 0;
  out.writeUInt16BE(0, offset + 9); // no options
}

/** The response to a rejected message: FORMERR/NOTIMP/REFUSED/BADVERS with id and opcode echoed. */
export function writeRejection(query: Buffer, rejected: RejectedQuery, ednsPayload: number): Buffer {
  if (rejected.question) {
    return writeResponse(query, rejected.question, { rcode: rejected.rcode, maxBytes: 65535, ednsPayload });
  }
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt16BE(rejected.id, 0);
  out[2] = 0x80 | (rejected.flags2 & 0x79);
  out[3] = rejected.rcode & 0x0f;
  return out;
}
