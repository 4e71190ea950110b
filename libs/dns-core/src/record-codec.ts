// Single resource records to and from wire bytes (uncompressed), for `common.v1.DNSAnswer.records`, and
// the encoding of answer sections for responses.
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import type { ClusterAnswer } from './types.js';
import type { EncodedSection } from './wire.js';

interface AnswerCodec {
  encode(record: Answer, buf?: Buffer, offset?: number): Buffer;
  decode(buf: Buffer, offset?: number): Answer;
  encodingLength(record: Answer): number;
}
// dns-packet exports its per-record codec, but @types/dns-packet does not declare it.
const answerCodec = (dnsPacket as unknown as { answer: AnswerCodec }).answer;
const decodeBytes = answerCodec.decode as unknown as { bytes: number };

/** Thrown for a record that cannot be encoded or bytes that are not exactly one record. */
export class DnsRecordError extends Error {
  override readonly name = 'DnsRecordError';
}

/** One record as uncompressed wire bytes (owner, type, class, ttl, rdlength, rdata). */
export function encodeRecord(record: Answer): Buffer {
  try {
    return answerCodec.encode({ class: 'IN', ttl: 0, ...record } as Answer);
  } catch (cause) {
    throw new DnsRecordError(`cannot encode ${record.type} record for "${record.name}"`, { cause });
  }
}

/** Decodes exactly one record; rejects truncated input and trailing bytes. */
export function decodeRecord(bytes: Uint8Array): Answer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let record: Answer;
  try {
    record = answerCodec.decode(buf, 0);
  } catch (cause) {
    throw new DnsRecordError('malformed DNS record bytes', { cause });
  }
  if (decodeBytes.bytes !== buf.length) {
    throw new DnsRecordError(`DNS record bytes have ${buf.length - decodeBytes.bytes} trailing bytes`);
  }
  return record;
}

/** The shape of `common.v1.DNSAnswer` as ts-proto generates it (records are Buffers, one RR each). */
export interface WireDnsAnswer {
  rcode: number;
  records: Buffer[];
}

/** ClusterAnswer -> DNSAnswer (for the manager/agent side). Throws DnsRecordError for unencodable records. */
export function clusterAnswerToWire(answer: ClusterAnswer): WireDnsAnswer {
  return { rcode: answer.rcode, records: answer.answers.map(encodeRecord) };
}

/** DNSAnswer -> ClusterAnswer (for the client's ClusterResolver). Throws DnsRecordError on bad records. */
export function clusterAnswerFromWire(answer: {
  rcode: number;
  records: readonly Uint8Array[];
}): ClusterAnswer {
  return { rcode: answer.rcode, answers: answer.records.map(decodeRecord) };
}

/**
 * Encodes records for a response section. Records owned by `ownerForPointer` (case-insensitive) are
 * written with a pointer to the question name (offset 12) so they carry the question's letter case and
 * the marker suffix the client asked with. Records that cannot be encoded are skipped and counted.
 */
export function encodeSection(
  records: readonly Answer[],
  ownerForPointer?: string,
): EncodedSection & { skipped: number } {
  const parts: Buffer[] = [];
  let skipped = 0;
  for (const record of records) {
    try {
      if (ownerForPointer !== undefined && record.name.toLowerCase() === ownerForPointer) {
        const rest = answerCodec.encode({ class: 'IN', ttl: 0, ...record, name: '.' } as Answer);
        parts.push(Buffer.from([0xc0, 0x0c]), rest.subarray(1));
      } else {
        parts.push(answerCodec.encode({ class: 'IN', ttl: 0, ...record } as Answer));
      }
    } catch {
      skipped++; // a record dns-packet cannot encode: leave it out rather than fail the whole answer
    }
  }
  return { bytes: Buffer.concat(parts), count: records.length - skipped, skipped };
}
