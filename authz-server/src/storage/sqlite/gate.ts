import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Serialises the database work of one SQLite storage while a transaction is open. better-sqlite3 has one connection
 * per database: while `BEGIN IMMEDIATE` waits on an awaited step, a statement issued for another request would run
 * inside that transaction (and be rolled back with it, or commit its half-done writes). So a transaction holds the
 * gate from BEGIN to COMMIT, and every other call waits its turn, first come first served. An uncontended call runs
 * at once, without a queue.
 */
export class Gate {
  #held = false;
  readonly #waiting: (() => void)[] = [];
  /**
   * The transaction holding the gate, and the one each async context runs in, so that a call that would wait for its
   * own transaction fails at once instead of waiting forever.
   */
  #holding: object | undefined;
  readonly #context = new AsyncLocalStorage<object>();

  /** Whether a transaction holds the gate now. */
  get held(): boolean {
    return this.#held;
  }

  /** How many calls wait for the gate, first come first served. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs the synchronous `op` when no transaction holds the gate. */
  async run<T>(op: () => T): Promise<T> {
    if (this.#held) {
      this.#refuseReentry();
      await this.#acquire();
      try {
        return op();
      } finally {
        this.#release();
      }
    }
    return op();
  }

  /** Runs `fn` holding the gate throughout, awaits included. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.#refuseReentry();
    await this.#acquire();
    const holding = {};
    this.#holding = holding;
    try {
      return await this.#context.run(holding, fn);
    } finally {
      this.#holding = undefined;
      this.#release();
    }
  }

  #refuseReentry(): void {
    if (this.#holding !== undefined && this.#context.getStore() === this.#holding)
      throw new Error("storage used directly inside its own transaction: use the transaction's handle (tx)");
  }

  #acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Hands the gate to the first waiter (it stays held), or opens it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held = false;
  }
}
