// A stand-in traffic-manager for client integration tests: sessions, a ClusterInfo watch whose subnets
// can be changed from stdin, LookupDNS answering echo.* with the echo address, and Tunnel dialing for real
// (libs/tunnel's dialer). Also serves an HTTP echo that reports the caller's address.
// Usage: fake-manager.mjs LISTEN_IP:PORT ECHO_IP ECHO_PORT SERVICE_CIDR POD_CIDR[,POD_CIDR...]
// stdin commands: "pods CIDR,CIDR" pushes new pod subnets; "sessions" prints the live session ids.
import http from 'node:http';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { ManagerService } from '@telepresence/rpc';
import { dialerHandler } from '@telepresence/tunnel';
import { encodeRecord } from '@telepresence/dns-core';
import { parseCidr, cidrToIpNet } from '@telepresence/subnets';

const [listen, echoIp, echoPortText, serviceCidr, podCidrs] = process.argv.slice(2);
const echoPort = Number(echoPortText);
const ipNet = (c) => cidrToIpNet(parseCidr(c));
let pods = podCidrs.split(',');
const sessions = new Set();
const watchers = new Set();
let next = 1;

const clusterInfo = () => ({
  serviceSubnet: ipNet(serviceCidr),
  podSubnets: pods.map(ipNet),
  managerPodIp: Buffer.from([198, 18, 250, 2]),
  managerPodPort: 8081,
  routing: { alsoProxySubnets: [], neverProxySubnets: [], allowConflictingSubnets: [] },
  dns: {
    includeSuffixes: [],
    excludeSuffixes: ['.com', '.io', '.net', '.org', '.ru'],
    clusterDomain: 'cluster.local.',
  },
  managerNamespace: 'ambassador',
});

const known = (session) => session !== undefined && sessions.has(session.sessionId);
const notFound = (cb) => cb({ code: status.NOT_FOUND, details: 'no such session' });

const impl = {
  version: (_c, cb) => cb(null, { info: { name: 'fake-manager', version: '0.0.1-fake', tunnelVersion: 1 } }),
  arriveAsClient: (call, cb) => {
    const id = `session-${next++}`;
    sessions.add(id);
    console.log(`ARRIVED ${id} ${call.request.client?.namespace}`);
    cb(null, { session: { sessionId: id, clusterId: 'fake' } });
  },
  remain: (call, cb) => (known(call.request.session) ? cb(null, {}) : notFound(cb)),
  depart: (call, cb) => {
    sessions.delete(call.request.session?.sessionId);
    console.log(`DEPARTED ${call.request.session?.sessionId}`);
    cb(null, {});
  },
  watchClusterInfo: (call) => {
    if (!known(call.request.session)) {
      call.destroy({ code: status.NOT_FOUND, details: 'no such session' });
      return;
    }
    watchers.add(call);
    call.on('cancelled', () => watchers.delete(call));
    call.on('close', () => watchers.delete(call));
    call.write(clusterInfo());
  },
  lookupDns: (call, cb) => {
    const q = call.request.question;
    if (!known(call.request.session)) return notFound(cb);
    if (/^echo(\.|$)/.test(q.name) && q.type === 1) {
      return cb(null, {
        answer: { rcode: 0, records: [encodeRecord({ type: 'A', name: q.name, ttl: 4, data: echoIp })] },
      });
    }
    if (/^echo(\.|$)/.test(q.name)) return cb(null, { answer: { rcode: 0, records: [] } });
    cb(null, { answer: { rcode: 3, records: [] } });
  },
  tunnel: dialerHandler(),
};

const server = new Server();
server.addService(ManagerService, impl);
http
  .createServer((req, res) => res.end(`echo from ${echoIp}: caller ${req.socket.remoteAddress}\n`))
  .listen(echoPort, echoIp, () => {
    server.bindAsync(listen, ServerCredentials.createInsecure(), (err) => {
      if (err) throw err;
      console.log('READY');
    });
  });

process.stdin.on('data', (d) => {
  for (const line of d.toString().split('\n')) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'pods') {
      pods = arg.split(',');
      for (const w of watchers) w.write(clusterInfo());
      console.log(`PUSHED ${arg}`);
    } else if (cmd === 'sessions') {
      console.log(`SESSIONS ${[...sessions].join(',')}`);
    }
  }
});
process.stdin.on('end', () => process.exit(0));
