// The agent's credential towards the traffic-manager: its pod's projected service-account token (audience
// "telepresence-agent", bound to the pod), which the injector mounts at AGENT_TOKEN_FILE. The kubelet
// renews the file before the token expires, so it is read again every READ_EVERY_MS.
import { readFileSync } from 'node:fs';

const READ_EVERY_MS = 30_000;

/** The current token, or undefined when there is no file (an agent injected by an older manager). */
export function tokenFile(
  path: string,
  onError: (message: string) => void,
  now: () => number = Date.now,
): () => string | undefined {
  let cached: { at: number; token: string | undefined } | undefined;
  let reported = false;
  return () => {
    const t = now();
    if (cached === undefined || t - cached.at >= READ_EVERY_MS) {
      let token: string | undefined;
      try {
        token = readFileSync(path, 'utf8').trim() || undefined;
      } catch (e) {
        if (!reported) onError(`cannot read the agent token ${path}: ${(e as Error).message}`);
        reported = true;
      }
      cached = { at: t, token };
    }
    return cached.token;
  };
}
