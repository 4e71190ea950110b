// Counters for status and metrics. Plain numbers, incremented in place.

export interface NetstackStats {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Packets the device refused on write (queue full). */
  writeDrops: number;
  dropBadChecksum: number;
  dropMalformed: number;
  dropFragment: number;
  dropUnsupported: number;
  /** ICMP/ICMPv6 that is not answered (no fake echo replies). */
  dropIcmp: number;
  /** Segments for no known connection (answered with RST unless they were RSTs). */
  dropNoConnection: number;
  /** Simulated loss (test hook). */
  dropSimulated: number;
  tcpActive: number;
  tcpAccepted: number;
  tcpRejected: number;
  tcpConnectTimeouts: number;
  tcpResetsIn: number;
  tcpResetsOut: number;
  tcpRetransmits: number;
  tcpFastRetransmits: number;
  tcpRtoExpirations: number;
  tcpOutOfOrder: number;
  udpActive: number;
  udpAccepted: number;
  udpRejected: number;
  udpDatagramsIn: number;
  udpDatagramsOut: number;
  udpDrops: number;
  udpIdleClosed: number;
}

export function newStats(): NetstackStats {
  return {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    writeDrops: 0,
    dropBadChecksum: 0,
    dropMalformed: 0,
    dropFragment: 0,
    dropUnsupported: 0,
    dropIcmp: 0,
    dropNoConnection: 0,
    dropSimulated: 0,
    tcpActive: 0,
    tcpAccepted: 0,
    tcpRejected: 0,
    tcpConnectTimeouts: 0,
    tcpResetsIn: 0,
    tcpResetsOut: 0,
    tcpRetransmits: 0,
    tcpFastRetransmits: 0,
    tcpRtoExpirations: 0,
    tcpOutOfOrder: 0,
    udpActive: 0,
    udpAccepted: 0,
    udpRejected: 0,
    udpDatagramsIn: 0,
    udpDatagramsOut: 0,
    udpDrops: 0,
    udpIdleClosed: 0,
  };
}
