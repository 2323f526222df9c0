import type { Sql } from "./connection.js";

/**
 * What a store runs its statements on: the pool outside a transaction, one client inside `transaction(fn)`.
 * `atomically` runs a store's multi-statement write all-or-nothing: in a transaction of its own, or inside the one
 * already open.
 */
export interface Db {
  sql: Sql;
  inTransaction: boolean;
  atomically<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
}

/** The version row of a cached table (migration 4), and how often it is re-read (as on SQLite: table-version.ts). */
export class TableVersion {
  static readonly RECHECK_INTERVAL_MS = 1000;
  readonly #read: () => Promise<number>;
  #version = -1;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(read: () => Promise<number>) {
    this.#read = read;
  }

  /** At most one read per RECHECK_INTERVAL_MS, so a cached lookup costs no round trip. */
  async current(): Promise<number> {
    const now = performance.now();
    if (now - this.#checkedAt >= TableVersion.RECHECK_INTERVAL_MS || now < this.#checkedAt) {
      this.#version = await this.#read();
      this.#checkedAt = now;
    }
    return this.#version;
  }

  invalidate(): void {
    this.#checkedAt = Number.NEGATIVE_INFINITY;
  }
}
