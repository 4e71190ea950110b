// Loads the N-API addon built by node-gyp (libs/netstack/build/Release/tun.node).
import { createRequire } from 'node:module';

export interface NativePoller {
  start(): void;
  stop(): void;
}

export interface NativeTun {
  open(name: string, vnetHdr: boolean): { fd: number; name: string; vnetHdr: boolean; offloads: number };
  closeFd(fd: number): void;
  writePackets(fd: number, buffer: Uint8Array, meta: Int32Array, count: number): number;
  Poller: new (
    fd: number,
    meta: Int32Array,
    maxPacket: number,
    headerLen: number,
    onPackets: (buffer: Buffer | null, count: number, error?: string) => void,
  ) => NativePoller;
}

let loaded: NativeTun | undefined;

export function loadNativeTun(): NativeTun {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    // Same relative path from src/tun and dist/tun.
    loaded = require('../../build/Release/tun.node') as NativeTun;
  } catch (err) {
    throw new Error(
      `the TUN addon is not built (${(err as Error).message}); run ` +
        '`npm run build:native -w @telepresence/netstack` (needs g++ and Node headers, npm_config_nodedir=/usr)',
    );
  }
  return loaded;
}
