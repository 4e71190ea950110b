// Network namespaces for integration tests: unique names (cl-<random>-<role>), torn down in afterAll.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, [...args], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function inNs(ns: string, cmd: string, args: readonly string[], input?: string): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

export function uniquePrefix(): string {
  return `cl-${randomBytes(3).toString('hex')}`;
}

/** Two namespaces joined by a veth pair: a (198.18.250.1/30) and b (198.18.250.2/30). */
export function makePair(prefix: string): {
  a: string;
  b: string;
  aIp: string;
  bIp: string;
  destroy: () => void;
} {
  const a = `${prefix}-a`;
  const b = `${prefix}-b`;
  sh('ip', ['netns', 'add', a]);
  sh('ip', ['netns', 'add', b]);
  // No IPv6 on the test links: a link-local address appearing after DAD, mid-test, would break the
  // byte-for-byte route comparisons (the tests are about IPv4 here).
  for (const ns of [a, b]) {
    inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  const va = `${prefix}a`;
  const vb = `${prefix}b`;
  sh('ip', ['link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
  inNs(a, 'ip', ['addr', 'add', '198.18.250.1/30', 'dev', va]);
  inNs(b, 'ip', ['addr', 'add', '198.18.250.2/30', 'dev', vb]);
  for (const [ns, dev] of [
    [a, va],
    [b, vb],
  ] as const) {
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNs(ns, 'ip', ['link', 'set', dev, 'up']);
  }
  return {
    a,
    b,
    aIp: '198.18.250.1',
    bIp: '198.18.250.2',
    destroy: () => {
      for (const ns of [a, b]) {
        try {
          sh('ip', ['netns', 'del', ns]);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Starts a process in a namespace and waits for a line starting with `ready`; returns it and the line. */
export async function startInNs(
  ns: string,
  args: readonly string[],
  ready = 'READY',
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcessWithoutNullStreams; line: string; output: () => string }> {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { env });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${ready}; output: ${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const found = out.split('\n').find((l) => l.startsWith(ready));
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${ready}: ${out}`));
    });
  });
  return { child, line, output: () => out };
}

export function buildClient(): void {
  sh('npx', ['tsc', '-p', 'tsconfig.build.json']);
}
