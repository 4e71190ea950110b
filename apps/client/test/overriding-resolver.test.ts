// The Linux overriding resolver against the real kernel, in namespaces of our own: a fake upstream
// nameserver on a veth address, nft redirection of UDP and TCP port 53 to our server, fallback through the
// bypass, and byte-for-byte cleanup of the ruleset and resolv.conf.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildClient, inNs, makePair, startInNs, uniquePrefix } from './helpers/netns.js';
import { needs } from 'test-requirements';

const describeRoot = needs('root').describe;
const drivers = path.join(process.cwd(), 'test', 'drivers');

describeRoot('overriding resolver (root, namespaces)', () => {
  jest.setTimeout(120_000);
  const prefix = uniquePrefix();
  let pair: ReturnType<typeof makePair>;
  let upstream: Awaited<ReturnType<typeof startInNs>>;
  let tmp: string;
  let resolvConf: string;

  beforeAll(async () => {
    buildClient();
    pair = makePair(prefix);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    resolvConf = path.join(tmp, 'resolv.conf');
    fs.writeFileSync(resolvConf, `search corp.test\nnameserver ${pair.bIp}\noptions ndots:1\n`);
    upstream = await startInNs(pair.b, [
      process.execPath,
      path.join(drivers, 'fake-upstream.mjs'),
      pair.bIp,
      '53',
    ]);
  });

  afterAll(() => {
    upstream?.child.kill();
    pair?.destroy();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const dig = (...args: string[]): string[] =>
    inNs(pair.a, 'dig', ['+short', '+time=2', '+tries=1', `@${pair.bIp}`, ...args])
      .trim()
      .split('\n')
      .filter((l) => l !== '');

  it('redirects UDP and TCP DNS to our server, falls back through the bypass, and cleans up byte for byte', async () => {
    const rulesetBefore = inNs(pair.a, 'nft', ['list', 'ruleset']);
    const resolvBefore = fs.readFileSync(resolvConf);
    expect(dig('echo.default.svc.cluster.local')).toEqual(['198.18.250.99']); // not redirected yet

    const client = await startInNs(pair.a, [
      process.execPath,
      path.join(drivers, 'overriding-resolver.mjs'),
      resolvConf,
    ]);
    try {
      const ready = JSON.parse(client.line.slice('READY '.length)) as {
        upstream: string;
        udpPorts: number[];
      };
      expect(ready.upstream).toBe(pair.bIp);
      expect(inNs(pair.a, 'nft', ['list', 'table', 'ip', 'telepresence_dns'])).toContain(
        'dnat to 127.0.0.1:',
      );

      // Cluster names are answered by our server over UDP and over TCP.
      expect(dig('echo.default.svc.cluster.local')).toEqual(['198.18.0.77']);
      expect(dig('+tcp', 'echo.default.svc.cluster.local')).toEqual(['198.18.0.77']);
      // Other names reach the real upstream through the fallback's bypassed UDP sockets...
      expect(dig('foo.example.test')).toEqual(['198.18.250.99']);
      expect(dig('+tcp', 'foo.example.test')).toEqual(['198.18.250.99']);
      // ...and through a bypassed TCP connection when the UDP answer is truncated.
      const big = dig('big.example.test');
      expect(big).toHaveLength(60);
      expect(big[0]).toMatch(/^198\.18\.251\./);
    } finally {
      client.child.stdin.end();
      await new Promise((r) => client.child.once('exit', r));
    }
    expect(client.output()).toContain('DONE');
    expect(inNs(pair.a, 'nft', ['list', 'ruleset'])).toBe(rulesetBefore);
    expect(fs.readFileSync(resolvConf).equals(resolvBefore)).toBe(true);
    expect(dig('echo.default.svc.cluster.local')).toEqual(['198.18.250.99']);
  });
});
