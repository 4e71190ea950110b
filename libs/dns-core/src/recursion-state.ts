// The recursion check's states, apart from recursion.ts so that server.ts and recursion.ts do not import
// each other.

/**
 * The recursion check's state (reference 4.7), for `telepresence status`:
 * - not-yet: no probe has reached the server;
 * - received: a probe arrived and the server is asking the cluster;
 * - detected: the cluster sent our own question back to us (a local cluster forwarding to the host);
 * - not-detected: the cluster answered (or the check timed out) without echoing.
 */
export type RecursionState = 'not-yet' | 'received' | 'detected' | 'not-detected';
