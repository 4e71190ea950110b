// Errors of Kubernetes API calls: the API server's own message (its Status), a 403, and a server that could
// not be reached: say which server, why (the network error's code under fetch's bare "fetch failed"), and
// what to check, instead of "fetch failed" (issue 18 item 9).
import { ApiException } from '@kubernetes/client-node';
import { TpError } from '../util/errors.js';

/** An HTTP 403 from the API server (as client-node reports it). */
export function isForbidden(e: unknown): boolean {
  return e instanceof ApiException && e.code === 403;
}

/** The API server's Status message of a failed client-node call, else the error's own message. */
export function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    try {
      const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      const message = (body as { message?: unknown } | undefined)?.message;
      if (typeof message === 'string') return message;
    } catch {
      // not a Status
    }
    return `HTTP ${e.code}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The first `code` in an error's cause chain (fetch wraps the socket's error: TypeError -> Error). */
export function networkCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

const CERT_CODES =
  /^(CERT_|ERR_TLS_CERT|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_)/;

/** What went wrong and what to check, for a network error code; undefined when it is not one we know. */
export function explainNetworkCode(code: string): { cause: string; check: string } | undefined {
  if (code === 'ECONNREFUSED')
    return {
      cause: 'connection refused (ECONNREFUSED)',
      check: 'is the cluster running, and is the server address in your kubeconfig right?',
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      cause: `the server's host name does not resolve (${code})`,
      check: 'check the server address in your kubeconfig and your DNS',
    };
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT')
    return {
      cause: `no answer in time (${code})`,
      check: 'check the network path to the server (VPN, firewall, proxy) and that the cluster is up',
    };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return {
      cause: `no route to the server (${code})`,
      check: 'check the network path to the server (VPN, routes)',
    };
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
    return {
      cause: `the connection was closed by the server or on the way (${code})`,
      check: 'check that the address is the API server (not a proxy) and that the cluster is up',
    };
  if (CERT_CODES.test(code))
    return {
      cause: `its TLS certificate is not accepted (${code})`,
      check:
        "check the cluster's certificate-authority(-data) in your kubeconfig, and that the server address matches the certificate",
    };
  return undefined;
}

/**
 * A TpError naming the server, the cause and what to check when `e` is a failure to reach the API server;
 * undefined for anything else (an HTTP answer such as 403 is the caller's to explain).
 */
export function unreachableApiServer(e: unknown, server: string, doing: string): TpError | undefined {
  const code = networkCode(e);
  if (code === undefined) return undefined;
  const known = explainNetworkCode(code);
  const message = e instanceof Error ? e.message : String(e);
  if (known === undefined && !/fetch failed|socket|connect/i.test(message)) return undefined;
  const cause = known?.cause ?? `${message} (${code})`;
  return new TpError('cluster', `cannot reach the Kubernetes API server at ${server} (${doing}): ${cause}`, {
    hint: known?.check ?? 'check that the cluster is up and the server address in your kubeconfig',
    cause: e,
  });
}
