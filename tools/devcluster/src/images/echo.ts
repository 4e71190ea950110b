// The `echo` test image: tells callers who they are as seen from the pod.
//   HTTP  (--http, default 8080): JSON {pod, namespace, podIP, remoteAddress, remotePort, method, url, headers}
//   TCP   (--tcp,  default 9000): one JSON line {pod, namespace, podIP, remoteAddress, remotePort}, then echoes bytes
//   UDP   (--udp,  default 9001): replies to each datagram with JSON {pod, ..., remoteAddress, remotePort, data}
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : process.env[`ECHO_${name.toUpperCase()}_PORT`];
  return v ? Number(v) : fallback;
}

const who = {
  pod: process.env['POD_NAME'] ?? os.hostname(),
  namespace: process.env['POD_NAMESPACE'] ?? '',
  podIP: process.env['POD_IP'] ?? '',
};

const httpServer = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({
      ...who,
      remoteAddress: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
      remotePort: req.socket.remotePort,
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
httpServer.listen(arg('http', 8080));

const tcpServer = net.createServer((sock) => {
  sock.write(
    `${JSON.stringify({ ...who, remoteAddress: sock.remoteAddress?.replace(/^::ffff:/, ''), remotePort: sock.remotePort })}\n`,
  );
  sock.pipe(sock);
  sock.on('error', () => sock.destroy());
});
tcpServer.listen(arg('tcp', 9000));

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const reply = JSON.stringify({
    ...who,
    remoteAddress: rinfo.address,
    remotePort: rinfo.port,
    data: msg.toString('utf8'),
  });
  udp.send(reply, rinfo.port, rinfo.address);
});
udp.bind(arg('udp', 9001));

const stop = () => {
  httpServer.close();
  tcpServer.close();
  udp.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
