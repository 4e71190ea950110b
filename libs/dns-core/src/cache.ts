// The internal cache of cluster answers, keyed by (name, type). It keeps load off the cluster while the
// answers themselves carry a short TTL so the OS caches forget quickly (seed "DNS caching").
import type { Answer } from 'dns-packet';
import { Rcode, SUPPORTED_TYPES } from './types.js';
import type { SupportedType } from './types.js';
import type { EncodedSection } from './wire.js';

export interface CachedAnswer {
  readonly rcode: number;
  readonly records: readonly Answer[];
  /** The answer section, pre-encoded with owner pointers to the question (see encodeSection). */
  readonly section: EncodedSection;
}

interface Entry {
  readonly answer: CachedAnswer;
  readonly expiresAtMs: number;
}

export interface DnsCacheOptions {
  /** How long a positive answer is kept. */
  readonly ttlMs: number;
  /** How long NXDOMAIN is kept (short: the name may appear any moment). 0 disables negative caching. */
  readonly negativeTtlMs: number;
  /** Most entries kept; the oldest go first. */
  readonly maxEntries: number;
  readonly now: () => number;
}

export function cacheKey(name: string, type: SupportedType): string {
  return type + ' ' + name;
}

/** A bounded, lazily expiring map. Only NOERROR and NXDOMAIN answers are stored. */
export class DnsCache {
  readonly #entries = new Map<string, Entry>();
  readonly #options: DnsCacheOptions;

  constructor(options: DnsCacheOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The fresh entry for a key, or undefined (a stale one is removed). */
  get(key: string): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= this.#options.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.answer;
  }

  set(key: string, answer: CachedAnswer): void {
    const lifetime =
      answer.rcode === Rcode.NOERROR
        ? this.#options.ttlMs
        : answer.rcode === Rcode.NXDOMAIN
          ? this.#options.negativeTtlMs
          : 0;
    if (lifetime <= 0) return;
    this.#entries.delete(key); // re-insert so the map order stays oldest first
    while (this.#entries.size >= this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { answer, expiresAtMs: this.#options.now() + lifetime });
  }

  /** True when some type of this name has a fresh NOERROR entry: the name exists (NODATA, not NXDOMAIN). */
  nameExists(name: string): boolean {
    for (const type of SUPPORTED_TYPES) {
      const hit = this.get(cacheKey(name, type));
      if (hit !== undefined && hit.rcode === Rcode.NOERROR) return true;
    }
    return false;
  }

  flush(): void {
    this.#entries.clear();
  }
}
