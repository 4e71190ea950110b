// Loads the batched-UDP addon built by node-gyp at install time (libs/dns-core/build/Release/udp.node).
// Linux only; elsewhere, or when the build failed, the server uses node:dgram (see endpoint.ts).
import { createRequire } from 'node:module';

/** Int32 slots per datagram in the meta arrays: offset, length, family, port, 4 address words, scope, unused. */
export const META_STRIDE = 10;

export interface NativeUdpPoller {
  start(): void;
  stop(): void;
  watchWritable(on: boolean): void;
}

export interface NativeUdp {
  open(address: string, port: number, bufferBytes: number): { fd: number; port: number };
  closeFd(fd: number): void;
  bufferSizes(fd: number): [number, number];
  addressName(meta: Int32Array, index: number): string;
  sendBatch(fd: number, buffer: Uint8Array, meta: Int32Array, count: number, status: Int32Array): number;
  Poller: new (
    fd: number,
    buffer: Uint8Array,
    meta: Int32Array,
    slotBytes: number,
    /** kind 1: `count` datagrams received; kind 2: writable again. */
    onEvent: (kind: 1 | 2, count: number, error?: string) => void,
  ) => NativeUdpPoller;
}

let loaded: NativeUdp | Error | undefined;

/** The addon, or an Error saying why it is unavailable. Loaded once. */
export function loadNativeUdp(): NativeUdp | Error {
  if (loaded !== undefined) return loaded;
  if (process.platform !== 'linux') {
    loaded = new Error(`the batched UDP transport is Linux-only (this is ${process.platform})`);
    return loaded;
  }
  const require = createRequire(import.meta.url);
  try {
    // Same relative path from src/udp and dist/udp.
    loaded = require('../../build/Release/udp.node') as NativeUdp;
  } catch (err) {
    loaded = new Error(
      `the batched UDP addon is not built (${(err as Error).message}); run ` +
        '`npm run build:native -w @telepresence/dns-core` (needs g++ and Node headers, npm_config_nodedir=/usr)',
    );
  }
  return loaded;
}
