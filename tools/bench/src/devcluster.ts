// devcluster: how fast a cluster comes up and runs pods, and the API server's request latency.
// Needs root (skipped otherwise) and the built devcluster (npm run bench builds it).
import { execFile } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDevCluster, type DevCluster } from '@telepresence/devcluster';
import { fmt, median, printTable, timeRuns, type BenchSuite } from './report.js';

const run = promisify(execFile);

function kubectlBin(): string {
  return path.resolve(process.cwd(), 'tools/bin/kubectl');
}

async function kubectl(c: DevCluster, args: string[], input?: string): Promise<string> {
  const p = run(kubectlBin(), ['--kubeconfig', c.hostKubeconfig, ...args]);
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}

const echoDeployment = (replicas: number) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'echo' } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          containers: [
            { name: 'echo', image: 'echo', readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } },
          ],
        },
      },
    },
  });

async function apiGetMs(c: DevCluster, n: number): Promise<number[]> {
  const ca = (
    await run('sh', [
      '-c',
      `grep certificate-authority-data ${c.hostKubeconfig} | awk '{print $2}' | base64 -d`,
    ])
  ).stdout;
  const token = (
    await run('sh', ['-c', `grep 'token:' ${c.hostKubeconfig} | awk '{print $2}'`])
  ).stdout.trim();
  const agent = new https.Agent({ keepAlive: true, ca });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      https
        .get(
          `${c.hostApiUrl}/api/v1/namespaces/default/pods`,
          { agent, headers: { Authorization: `Bearer ${token}` } },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        )
        .on('error', reject);
    });
  const out = await timeRuns(get, n, 20);
  agent.destroy();
  return out;
}

const suite: BenchSuite = {
  name: 'devcluster',
  async run() {
    if (process.getuid?.() !== 0) {
      console.log('skipped: devcluster needs root');
      return;
    }
    const rows: string[][] = [];
    const ups: number[] = [];
    const readies: number[] = [];
    const downs: number[] = [];
    let podMs: number[] = [];
    let apiMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const c = await startDevCluster({ name: `bn${process.pid % 10000}`, nodes: 2 });
      ups.push(performance.now() - t0);
      const t1 = performance.now();
      await kubectl(c, ['apply', '-f', '-'], echoDeployment(2));
      await kubectl(c, ['rollout', 'status', 'deployment/echo', '--timeout=60s']);
      readies.push(performance.now() - t1);
      if (i === 0) {
        podMs = [];
        for (let p = 0; p < 5; p++) {
          const t = performance.now();
          await kubectl(c, ['run', `p${p}`, '--image=echo']);
          await kubectl(c, ['wait', '--for=condition=Ready', `pod/p${p}`, '--timeout=30s']);
          podMs.push(performance.now() - t);
        }
        apiMs = await apiGetMs(c, 300);
      }
      const t2 = performance.now();
      await c.down();
      downs.push(performance.now() - t2);
    }
    rows.push(['up (2 nodes)', fmt(median(ups), 0), '3']);
    rows.push(['echo deployment, 2 replicas ready', fmt(median(readies), 0), '3']);
    rows.push([
      'up + echo ready (goal < 15000)',
      fmt(median(ups.map((u, i) => u + (readies[i] ?? 0))), 0),
      '3',
    ]);
    rows.push(['kubectl run + wait Ready (1 pod)', fmt(median(podMs), 0), String(podMs.length)]);
    rows.push(['API GET pods (keep-alive)', fmt(median(apiMs), 3), String(apiMs.length)]);
    rows.push(['down', fmt(median(downs), 0), '3']);
    printTable('devcluster timings (median ms)', ['what', 'ms', 'runs'], rows);
  },
};

export default suite;
