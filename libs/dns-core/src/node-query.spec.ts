import { UnsupportedQueryTypeError, nodeDnsQuery } from './node-query.js';

describe('nodeDnsQuery', () => {
  it('rejects a type node:dns cannot ask with ENOTIMP, without querying', async () => {
    const q = nodeDnsQuery({ servers: ['127.0.0.1:9'], timeoutMs: 100, ttlS: 4 });
    const err = await q.query('x.example', 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedQueryTypeError);
    expect(err).toMatchObject({ code: 'ENOTIMP', qtype: 2, message: 'query type 2 is not supported' });
  });
});
