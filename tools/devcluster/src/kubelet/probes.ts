// Readiness/liveness probe actions: tcpSocket, httpGet and exec, run from the router namespace (which
// routes to every pod) or, for exec, inside the pod's network namespace.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { field, isRecord, str } from '../api/object.js';

type Rec = Record<string, unknown>;

export function resolveProbePort(port: unknown, container: Rec): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  const ports = Array.isArray(container['ports']) ? (container['ports'] as Rec[]) : [];
  const p = ports.find((x) => x['name'] === port);
  return p ? Number(p['containerPort']) : undefined;
}

export function runProbe(probe: Rec, podIp: string, netns: string, container: Rec): Promise<boolean> {
  const timeoutMs = Number(probe['timeoutSeconds'] ?? 1) * 1000;
  const tcp = probe['tcpSocket'];
  if (isRecord(tcp)) {
    const port = resolveProbePort(tcp['port'], container);
    if (port === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const s = net.connect({ host: podIp, port, timeout: timeoutMs });
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(false));
    });
  }
  const get = probe['httpGet'];
  if (isRecord(get)) {
    const port = resolveProbePort(get['port'], container);
    if (port === undefined) return Promise.resolve(false);
    const scheme = str(get['scheme']) === 'HTTPS' ? https : http;
    return new Promise((resolve) => {
      const r = scheme.get(
        {
          host: podIp,
          port,
          path: str(get['path']) ?? '/',
          timeout: timeoutMs,
          rejectUnauthorized: false,
          headers: { 'User-Agent': 'kube-probe/1.33' },
        },
        (res) => {
          res.resume();
          resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
        },
      );
      r.on('timeout', () => r.destroy());
      r.on('error', () => resolve(false));
    });
  }
  const cmd = field(probe, 'exec', 'command');
  if (Array.isArray(cmd) && cmd.length > 0) {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', netns, ...cmd.map(String)], { stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', () => resolve(false));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    });
  }
  return Promise.resolve(true);
}
