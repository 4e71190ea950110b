// A nameserver for tests: answers every A question with 198.18.250.99 over UDP and TCP; names starting
// with "big" get 60 records so that the UDP answer is truncated and the asker must retry over TCP.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

const [address = '198.18.250.2', portText = '53'] = process.argv.slice(2);
const port = Number(portText);
let udpQueries = 0;
let tcpQueries = 0;

function answer(query, viaUdp) {
  const q = query.questions[0];
  const count = q.name.startsWith('big') ? 60 : 1;
  const answers = Array.from({ length: count }, (_, i) => ({
    type: 'A',
    name: q.name,
    ttl: 60,
    data: count === 1 ? '198.18.250.99' : `198.18.251.${i}`,
  }));
  const tooBig = viaUdp && count > 1;
  return dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags:
      dnsPacket.RECURSION_DESIRED |
      dnsPacket.RECURSION_AVAILABLE |
      (tooBig ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: query.questions,
    answers: tooBig ? [] : answers,
  });
}

const udp = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => {
  udpQueries++;
  udp.send(answer(dnsPacket.decode(msg), true), rinfo.port, rinfo.address);
});
const tcp = net.createServer((socket) => {
  let buf = Buffer.alloc(0);
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      tcpQueries++;
      const reply = answer(dnsPacket.decode(buf.subarray(2, 2 + len)), false);
      buf = buf.subarray(2 + len);
      socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
    }
  });
  socket.on('error', () => {});
});
udp.bind(port, address, () => tcp.listen(port, address, () => console.log('READY')));
process.stdin.on('data', () => console.log(`COUNTS ${JSON.stringify({ udpQueries, tcpQueries })}`));
process.stdin.on('end', () => process.exit(0));
