// Secrets out of text that leaves the machine (gather-logs): tokens, passwords, keys, bearer headers, JWTs.

const KEYED =
  /((?:token|password|passwd|secret|client-key-data|client-certificate-data|id-token|refresh-token|access-token|api-?key|authorization)["']?\s*[:=]\s*["']?)(?!\[REDACTED\]|Bearer |Basic )([^\s"',}\]]+)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

export function redactSecrets(text: string): string {
  return text.replace(BEARER, '$1 [REDACTED]').replace(JWT, '[REDACTED]').replace(KEYED, '$1[REDACTED]');
}
