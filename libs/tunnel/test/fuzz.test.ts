// Acceptance 7: random and truncated frames, a wrong first message and oversize messages are rejected
// per stream with a clear error; the server and the other flows are unaffected.
import type { ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { ConnId, dialerHandler, memoryLogger, openTunnel } from '../src/index.js';
import { encodeMessage } from '../src/protocol/codec.js';
import {
  connectClient,
  connectGrpcClient,
  randomBytes,
  readAll,
  sha256,
  startServer,
  tcpServer,
} from './harness.js';

const MAX_FRAME = 64 * 1024;

it('7. bad frames end only their own stream, with a clear error', async () => {
  const log = memoryLogger();
  const target = await tcpServer(
    (s) =>
      void readAll(s).then(
        (b) => s.end(sha256(b)),
        () => s.destroy(),
      ),
  );
  const grpc = await startServer(dialerHandler({ log, maxFrameBytes: MAX_FRAME, handshakeTimeoutMs: 2000 }));
  const client = connectClient(grpc.port);
  const grpcClient = connectGrpcClient(grpc.port);
  const dst = { ip: '127.0.0.1', port: target.port };
  try {
    // A healthy flow that keeps transferring while the garbage arrives.
    const healthy = await openTunnel(client, {
      id: ConnId.of('tcp', { ip: '127.0.0.1', port: 1 }, dst),
      sessionId: 's',
      dialTimeoutMs: 2000,
    });
    expect(await healthy.dialed).toEqual({ ok: true });
    const answer: Buffer[] = [];
    healthy.on('data', (d) => answer.push(Buffer.from(d)));
    healthy.on('end', () => healthy.end());
    healthy.resume();
    const payload = randomBytes(4 * 1024 * 1024, 3);
    let off = 0;
    const feed = setInterval(() => {
      if (off < payload.length) healthy.write(payload.subarray(off, (off += 32 * 1024)));
    }, 2);

    /** Sends raw payloads on a fresh call; resolves with the call's error status (or 'OK'). */
    const rawCall = (frames: Buffer[]) =>
      new Promise<string>((resolve) => {
        const call = grpcClient.tunnel();
        call.on('data', () => {});
        call.on('error', (e: ServiceError) => resolve(e.details));
        call.on('end', () => resolve('OK'));
        for (const f of frames) call.write({ payload: f });
      });
    const open = encodeMessage({
      type: 'open',
      version: 1,
      minVersion: 1,
      id: ConnId.of('tcp', { ip: '127.0.0.1', port: 2 }, dst),
      sessionId: 's',
      dialTimeoutMs: 1000,
      roundtripLatencyMs: 0,
    });

    // Wrong first message.
    expect(await rawCall([encodeMessage({ type: 'data', data: Buffer.from('GET / HTTP/1.1\r\n') })])).toMatch(
      /first message must be OPEN, got DATA/,
    );
    // Truncated OPEN.
    expect(await rawCall([open.subarray(0, 7)])).toMatch(/bad frame: OPEN frame truncated/);
    // Unknown code after a valid handshake.
    expect(await rawCall([open, Buffer.of(200, 1, 2)])).toMatch(/unknown tunnel message code 200/);
    // Oversize DATA after a valid handshake.
    expect(await rawCall([open, Buffer.alloc(MAX_FRAME + 10)])).toMatch(/exceeds the limit of 65536/);
    // Random frames (property): every call ends with an error status, none crashes the server.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 4 }),
        async (frames) => {
          const status = await rawCall(frames.map((f) => Buffer.from(f)));
          expect(status).not.toBe('');
        },
      ),
      { numRuns: 40 },
    );

    await new Promise<void>((r) => {
      const wait = setInterval(() => {
        if (off >= payload.length) {
          clearInterval(wait);
          r();
        }
      }, 5);
    });
    clearInterval(feed);
    healthy.end();
    const end = await healthy.done;
    expect(end.reason).toBe('eof');
    expect(Buffer.concat(answer).toString()).toBe(sha256(payload));
    expect(log.lines.some((l) => l.message === 'stream end' && l.fields['reason'] === 'protocol')).toBe(true);
  } finally {
    client.close();
    grpcClient.close();
    await Promise.all([target.close(), grpc.close()]);
  }
}, 30_000);
