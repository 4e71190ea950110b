// Typed tunnel errors and the one table that maps Node socket errors to wire reasons.

/** Why a stream ended badly. `code` is stable; compare it, never the message text. */
export type TunnelErrorCode =
  | 'protocol' // malformed frame or a message that is not allowed in the current state
  | 'version' // no protocol version both peers speak
  | 'handshake-timeout' // the peer did not answer OPEN in time
  | 'dial-rejected' // the remote dial failed (reason carries ECONNREFUSED, ETIMEDOUT, ...)
  | 'peer-disconnect' // the peer sent DISCONNECT (reason carries its why)
  | 'idle' // nothing received for the idle timeout
  | 'transport' // the gRPC call or connection failed, or ended without a clean close
  | 'local' // the local socket failed (reason carries ECONNRESET, EPIPE, ...)
  | 'aborted'; // the caller aborted (AbortSignal or stream.abort())

export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  constructor(
    readonly code: TunnelErrorCode,
    message: string,
    /** Wire reason, e.g. `ECONNREFUSED` for a dial rejection or `idle` for a disconnect. */
    readonly reason: string = code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Normalises anything thrown at a boundary into a TunnelError, keeping the original as `cause`. */
  static from(e: unknown, code: TunnelErrorCode = 'local'): TunnelError {
    if (e instanceof TunnelError) return e;
    const errno = socketErrorCode(e);
    const message = e instanceof Error ? e.message : String(e);
    return new TunnelError(code, message, errno ?? code, { cause: e });
  }
}

/** The first `code` like ECONNREFUSED found on the error or its `cause` chain. */
export function socketErrorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Reason sent in DIAL_REJECT for a failed dial. Known codes pass through (each row names its test);
 * everything else becomes `EDIALFAILED` with the message alongside.
 */
const DIAL_REASONS: ReadonlySet<string> = new Set([
  'ECONNREFUSED', // test/dial.test.ts "closed port"
  'ETIMEDOUT', // test/dial.test.ts "black-holed address" (our own dial timer)
  'EHOSTUNREACH', // kernel: no route / ICMP host unreachable
  'ENETUNREACH', // kernel: no route to the network
  'EADDRNOTAVAIL', // bad local address for the destination
  'ECONNRESET', // reset during connect
  'EACCES', // firewall or privileged port
]);

export function dialRejectReason(e: unknown): string {
  const code = socketErrorCode(e);
  return code !== undefined && DIAL_REASONS.has(code) ? code : 'EDIALFAILED';
}
