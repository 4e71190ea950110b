// Picks and loads the OS resolver hook of this platform (the probe that picks one on Linux is
// select-resolver.linux.ts). The interface is in os-resolver-hook.ts.
import type { Run } from '../util/exec.js';
import type { OpenResolverHookOptions, OsResolverHook } from './os-resolver-hook.js';

export type { DnsMode, OpenResolverHookOptions, OsResolverHook, VifDns } from './os-resolver-hook.js';

export async function openResolverHook(
  options: OpenResolverHookOptions,
  deps: { run: Run },
): Promise<OsResolverHook> {
  if (options.platform === 'linux') {
    const { openLinuxResolverHook } = await import('./select-resolver.linux.js');
    return openLinuxResolverHook(options, deps.run);
  }
  if (options.platform === 'darwin') {
    const { openResolverFilesHook } = await import('./resolver-files.darwin.js');
    return openResolverFilesHook(options);
  }
  if (options.platform === 'win32') {
    const { openWindowsDnsHook } = await import('./windows-dns.win32.js');
    return openWindowsDnsHook(options, deps.run);
  }
  throw new Error(`DNS on ${options.platform} is not supported yet`);
}
