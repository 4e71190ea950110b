import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { bearerHeaders } from '@telepresence/rpc';
import { tokenFile } from './manager-token.js';

describe('tokenFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-token-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the token again once the kubelet may have renewed it, not on every call', () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, 'first\n');
    let now = 0;
    const token = tokenFile(
      file,
      () => {},
      () => now,
    );
    expect(token()).toBe('first');
    writeFileSync(file, 'second\n');
    now = 29_000;
    expect(token()).toBe('first');
    now = 30_000;
    expect(token()).toBe('second');
    expect(bearerHeaders(token)()).toEqual({ authorization: 'Bearer second' });
  });

  it('reports a missing file once and sends no token', () => {
    const errors: string[] = [];
    let now = 0;
    const token = tokenFile(
      path.join(dir, 'missing'),
      (m) => errors.push(m),
      () => now,
    );
    expect(token()).toBeUndefined();
    now = 60_000;
    expect(token()).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('cannot read the agent token');
    expect(bearerHeaders(token)()).toEqual({});
  });
});
