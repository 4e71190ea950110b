import { formatIp, ipFromBytes, ipToBytes as addressBytes, parseIp } from '@telepresence/subnets';

/** 4 or 16 bytes of an IP address string; an empty buffer for "". Throws on anything else. */
export function ipToBytes(ip: string): Buffer {
  return ip === '' ? Buffer.alloc(0) : Buffer.from(addressBytes(parseIp(ip)));
}

/** The string form of 4 or 16 address bytes. Throws on other lengths. */
export function bytesToIp(bytes: Uint8Array): string {
  return formatIp(ipFromBytes(bytes));
}
