// Wire encoding of single resource records for DNSAnswer.records (uncompressed, one RR per entry).
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';

interface RecordCodec {
  encode(record: Answer): Buffer;
  decode(buf: Buffer, offset?: number): Answer;
}

// dns-packet exports its per-record codec, but @types/dns-packet does not declare it.
const answerCodec = (dnsPacket as unknown as { answer: RecordCodec }).answer;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export const QTYPE = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 } as const;

export function encodeRecord(record: Answer): Buffer {
  return answerCodec.encode(record);
}

export function decodeRecord(bytes: Uint8Array): Answer {
  return answerCodec.decode(Buffer.from(bytes));
}
