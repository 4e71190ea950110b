// V8's full-GC trigger, set for a process that moves bytes.
//
// After each full (mark-compact) collection V8 sets the next old-generation limit to the live heap times a
// growing factor it derives from how fast the heap itself grew (promotion), never less than live + 8 MB.
// It also counts every ArrayBuffer byte allocated since that collection against the same limit. A process
// on the data path has a large heap that barely grows (@kubernetes/client-node alone is ~33 MB) while it
// allocates a data Buffer per read: V8 picks its smallest factor (1.1), the in-flight Buffers cross the
// 8 MB margin again and again, and every crossing marks the whole heap. Measured under iperf3: 5-15 full
// collections a second in the daemon, the manager and devcluster's API server, with factor 1.1-1.4 in
// `--trace-gc-verbose`, taking up to half of the daemon's CPU and halving throughput.
//
// A fixed factor of 2 leaves room for the buffers in flight: the heap may reach twice its live size
// before a full collection (its dead Buffers are freed by the scavenges in between, as before).
import v8 from 'node:v8';

/** The old generation may grow to this much more than its live size (percent) before a full collection. */
export const HEAP_GROWING_PERCENT = 100;

/** Sets V8's heap growing factor for this process; call it once, early, in a data-path process. */
export function tuneHeapForStreaming(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
