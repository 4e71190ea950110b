// An HTTP server for tests: answers every request with "<Host header> via <local address>", so a test can
// tell which address a name resolved to. Listens on all addresses of its (test-owned) namespace.
import http from 'node:http';

const port = Number(process.argv[2] ?? '8080');
http
  .createServer((req, res) => res.end(`${req.headers.host} via ${req.socket.localAddress}\n`))
  .listen(port, () => console.log('READY'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
