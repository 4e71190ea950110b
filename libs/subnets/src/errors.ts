/** What was being parsed when a {@link CidrError} was thrown. */
export type CidrErrorKind = 'IP address' | 'CIDR' | 'IPNet';

/**
 * Thrown for any malformed IP address or CIDR. The message quotes the input and says what is wrong,
 * e.g. `invalid CIDR "1.2.3.4/33": prefix length 33 is out of range for IPv4 (0-32)`.
 */
export class CidrError extends Error {
  override readonly name = 'CidrError';

  constructor(
    readonly kind: CidrErrorKind,
    readonly input: unknown,
    readonly reason: string,
  ) {
    super(`invalid ${kind} ${quote(input)}: ${reason}`);
  }
}

function quote(input: unknown): string {
  // JSON quoting makes leading/trailing whitespace and control characters visible.
  return typeof input === 'string' ? JSON.stringify(input) : String(input);
}
