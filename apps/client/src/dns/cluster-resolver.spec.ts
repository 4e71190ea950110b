import type { ManagerApi, SessionInfo } from '../manager/manager-api.js';
import { managerClusterResolver } from './cluster-resolver.js';

describe('managerClusterResolver', () => {
  it("hands the DNS server's signal to LookupDNS, so giving up on a question cancels the call", async () => {
    const seen: Array<AbortSignal | undefined> = [];
    const api = {
      lookupDns: (_s: SessionInfo, _q: unknown, _t: number, signal?: AbortSignal) => {
        seen.push(signal);
        return new Promise((_resolve, reject) =>
          signal?.addEventListener('abort', () => reject(new Error('CANCELLED')), { once: true }),
        );
      },
    } as unknown as ManagerApi;
    const resolver = managerClusterResolver(
      () => api,
      () => ({ sessionId: 's1' }) as SessionInfo,
      4000,
    );
    const ac = new AbortController();
    const pending = resolver.resolve({ name: 'echo', type: 'A' }, ac.signal);
    expect(seen).toEqual([ac.signal]);
    ac.abort();
    await expect(pending).rejects.toThrow('CANCELLED');
  });
});
