// Connect recursion (seed, "Connect recursion"): a cluster on this host may send connection attempts it
// cannot route back into our VIF, which would send them to the cluster again, forever. So attempts to one
// IP:port are serialized: while the first is pending, later ones wait; when it settles, the waiters share
// its fate: if it succeeded they go ahead (each with its own dial), if it failed they fail with its error
// without dialing. A recursive attempt is always a waiter of the attempt that caused it, so the loop ends
// when the first one times out.

export class RecursionRefused extends Error {
  override readonly name = 'RecursionRefused';
}

interface Gate {
  /** Settles when the first attempt does: true = succeeded. */
  readonly outcome: Promise<{ ok: true } | { ok: false; error: unknown }>;
}

export class AttemptSerializer {
  private readonly gates = new Map<string, Gate>();
  private waitingNow = 0;

  /** Attempts currently trapped behind a pending first attempt (for status counters and tests). */
  get waiting(): number {
    return this.waitingNow;
  }

  get pendingKeys(): number {
    return this.gates.size;
  }

  /**
   * Runs dial() for key unless another attempt for key is pending, in which case it waits for that one
   * and then either dials too (it succeeded) or rejects with its error (it failed).
   */
  async attempt<T>(key: string, dial: () => Promise<T>): Promise<T> {
    const gate = this.gates.get(key);
    if (gate !== undefined) {
      this.waitingNow++;
      const outcome = await gate.outcome.finally(() => this.waitingNow--);
      if (!outcome.ok) throw outcome.error;
      return dial();
    }
    let settle!: (o: { ok: true } | { ok: false; error: unknown }) => void;
    const outcome = new Promise<{ ok: true } | { ok: false; error: unknown }>(
      (resolve) => (settle = resolve),
    );
    this.gates.set(key, { outcome });
    try {
      const result = await dial();
      settle({ ok: true });
      return result;
    } catch (error) {
      settle({ ok: false, error });
      throw error;
    } finally {
      this.gates.delete(key);
    }
  }
}
